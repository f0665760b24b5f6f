import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { resolverFromConfig } from '../adapters/dns/node-resolver';
import { EmbeddedBlobStore } from '../adapters/embedded/embedded-blob-store';
import { createOutboundTransport } from '../adapters/outbound/compose';
import { DkimPool } from '../adapters/dkim-pool';
import { PasswordPool } from '../adapters/password-pool';
import { EmbeddedDb } from '../adapters/embedded/sqlite';
import { SqliteMailStore } from '../adapters/embedded/sqlite-mail-store';
import { SqliteQueue } from '../adapters/embedded/sqlite-queue';
import { loadTlsMaterial, type TlsMaterial } from '../adapters/tls-certificate';
import type { Config } from '../core/config';
import { createLogger, type Logger } from '../core/logger';
import type { DnsResolver } from '../core/ports';
import { createSubmission, processOutbound } from '../core/outbound';
import type { InboundQueueMessage, OutboundQueueMessage } from '../core/types';
import { createAppContext, deliverDeps, submitDeps, type AppContext } from '../functions/app-context';
import { routes } from '../functions/http/routes';
import { createSmtpEdge, smtpEdgeOptions, type ListenerPorts, type SmtpEdge, type SmtpEdgeOptions } from '../smtp-edge/server';
import { createHttpServer } from './http-server';
import { summarize } from '../core/drafts';
import { DomainScheduler } from './domain-scheduler';
import { startSweeps } from './sweeps';
import { OutboundWorker } from './outbound-worker';
import { createStaticSite, defaultWebmailDir } from './static-files';
import { InboundWorker } from './worker';

/** Local mode only: the JWT key lives in the data folder (mode 0600) when not configured. */
function localJwtSecret(dataDir: string, configured: string | undefined): string {
  if (configured) return configured;
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  return secret;
}

export interface LocalHost {
  app: AppContext;
  db: EmbeddedDb;
  /** The inbound queue with its consumer side (the HTTP handlers see only the sender). */
  queue: SqliteQueue<InboundQueueMessage>;
  /** Foreign recipients' deliveries and their scheduled retries. */
  outboundQueue: SqliteQueue<OutboundQueueMessage>;
  edge: SmtpEdge;
  worker: InboundWorker;
  /** Runs the DNS checks of hosted domains on their schedule. */
  scheduler: DomainScheduler;
  outboundWorker: OutboundWorker;
  /** MX listener (kept under its old name). */
  smtpPort: number;
  ports: ListenerPorts;
  httpPort: number;
  tls: TlsMaterial;
  stop(): Promise<void>;
}

/**
 * The one-process host on the embedded adapters: SMTP edge (MX and submission),
 * HTTP API, the inbound and outbound workers and the periodic orphan sweep.
 * Adapters are chosen here, once. `edge` overrides edge options (tests stand for a
 * remote client on loopback with it).
 */
export interface LocalHostOptions {
  logger?: Logger;
  /** DNS for the domain checks and inbound authentication (tests: a table); default node:dns per the settings. */
  resolver?: DnsResolver;
  /** The clock of the domain scheduler and checks (tests: a fake one). */
  now?: () => number;
  /** false: the domain scheduler is not started (tests drive it with runDue); a number: its poll interval in ms. */
  scheduler?: boolean | number;
  /** Overrides of the SMTP edge's options (tests stand for a remote client on loopback with it). */
  edge?: Partial<SmtpEdgeOptions>;
  /** The built webmail served at / (default: webmail/dist of this checkout). */
  webmailDir?: string;
}

export async function startLocalHost(config: Config, opts: LocalHostOptions = {}): Promise<LocalHost> {
  const logger = opts.logger ?? createLogger(config.NIMBUS_LOG_LEVEL);
  const dataDir = resolve(config.NIMBUS_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const tls = await loadTlsMaterial({ certFile: config.NIMBUS_TLS_CERT_FILE, keyFile: config.NIMBUS_TLS_KEY_FILE, dataDir, hostname: config.NIMBUS_HOSTNAME ?? osHostname() });
  const db = new EmbeddedDb(join(dataDir, 'nimbus.db'));
  db.onWriterDeath = (err, restarting) =>
    logger.error({ err }, restarting ? 'database writer thread died; restarting it (writes meanwhile answer 4xx)' : 'database writer thread keeps dying; writes stay off (health: degraded)');
  db.onWriterProblem = (problem) => logger.error({}, problem);
  const store = new SqliteMailStore(db);
  const blobs = new EmbeddedBlobStore(db, dataDir, config.NIMBUS_BLOB_INLINE_MAX_BYTES);
  // handOff: this process fills and drains it; a message's first receive gets the summary the edge made, not a copy read back and parsed
  const queue = new SqliteQueue<InboundQueueMessage>(db, 'inbound', { maxDeliveries: config.NIMBUS_QUEUE_MAX_DELIVERIES, lockMs: config.NIMBUS_QUEUE_LOCK_MS, handOff: 1000 });
  // a delivery may wait on a slow relay for several timeouts: its lock must outlast them
  const outboundQueue = new SqliteQueue<OutboundQueueMessage>(db, 'outbound', { maxDeliveries: config.NIMBUS_QUEUE_MAX_DELIVERIES, lockMs: Math.max(config.NIMBUS_QUEUE_LOCK_MS, 5 * config.NIMBUS_RELAY_TIMEOUT_MS) });
  const transport = createOutboundTransport(config);
  const passwords = new PasswordPool();
  const dkim = new DkimPool();
  // first-run setup: from this machine, or with a code printed at start (a configured NIMBUS_SETUP_TOKEN, else a one-time one)
  const setupCode = config.NIMBUS_SETUP_TOKEN ?? ((await store.countUsers()) === 0 ? randomBytes(9).toString('base64url') : null);
  const resolver = opts.resolver ?? resolverFromConfig(config);
  // the API's composed messages are read back on the edge's analysis thread (the edge is made below; sends come after start-up)
  let summaryEdge: SmtpEdge | null = null;
  const summarizer = (raw: Buffer) => (summaryEdge ? summaryEdge.summarize(raw) : summarize(raw));
  const app = createAppContext(config, { store, blobs, queue, inboundBrowser: queue, passwords, logger, setup: { code: setupCode, fromLoopback: true }, jwtSecret: localJwtSecret(dataDir, config.NIMBUS_JWT_SECRET), resolver, now: opts.now, outboundQueue, outboundBrowser: outboundQueue, transport, dkimSigner: dkim.sign, summarizer });
  const submission = createSubmission({ ...submitDeps(app), passwords: app.passwords, loginGuard: app.loginGuard });
  const edge = createSmtpEdge({ directory: store, blobs, queue, submission, logger, resolver }, { ...smtpEdgeOptions(config, tls), ...opts.edge });
  summaryEdge = edge;
  // uploads may carry a whole message's worth of attachments, plus multipart framing
  const http = createHttpServer(app, routes, {
    maxBodyBytes: config.NIMBUS_HTTP_MAX_BODY_BYTES,
    maxUploadBytes: config.NIMBUS_MAX_MESSAGE_BYTES + 1024 * 1024,
    trustedProxies: config.NIMBUS_TRUSTED_PROXIES,
    headersTimeoutMs: config.NIMBUS_HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.NIMBUS_HTTP_REQUEST_TIMEOUT_MS,
    site: createStaticSite(opts.webmailDir ?? defaultWebmailDir()),
  });
  const worker = new InboundWorker(store, queue, logger.child({ component: 'worker' }));
  const scheduler = new DomainScheduler(store, app.domains, logger.child({ component: 'domain-scheduler' }), { now: opts.now, pollMs: typeof opts.scheduler === 'number' ? opts.scheduler : undefined });
  const delivery = deliverDeps(app);
  // twice as many deliveries as the relay pool has connections: a delivery holds its connection only for
  // the SMTP transaction, then waits for the store (its status, its queue completion) while another uses it;
  // with one per connection the connections sat idle during those waits and sending lagged behind accepting
  const concurrency = config.NIMBUS_OUTBOUND_TRANSPORT === 'smtp' ? 2 * config.NIMBUS_RELAY_MAX_CONNECTIONS : 16;
  const outboundWorker = new OutboundWorker(outboundQueue, (message) => processOutbound(delivery, message), logger.child({ component: 'outbound-worker' }), { concurrency, idlePollMs: 500, retryBaseMs: 1000 });

  let ports: ListenerPorts;
  let httpAddress;
  try {
    ports = await edge.listen({ mx: config.NIMBUS_SMTP_PORT, submission: config.NIMBUS_SUBMISSION_PORT, submissionTls: config.NIMBUS_SUBMISSION_TLS_PORT }, config.NIMBUS_SMTP_HOST);
    httpAddress = await http.listen(config.NIMBUS_HTTP_PORT, config.NIMBUS_HTTP_HOST);
  } catch (err) {
    await edge.close();
    await Promise.all([passwords.close(), dkim.close()]);
    await transport.close();
    await db.close();
    throw err;
  }
  if (config.NIMBUS_WORKER) {
    worker.start();
    outboundWorker.start();
  }
  const sweeps = startSweeps(app.orphans, config.NIMBUS_SWEEP_INTERVAL_MINUTES * 60_000, logger.child({ component: 'orphans' }));
  if (opts.scheduler !== false) scheduler.start();

  return {
    app,
    db,
    queue,
    outboundQueue,
    edge,
    worker,
    scheduler,
    outboundWorker,
    smtpPort: ports.mx,
    ports,
    httpPort: httpAddress.port,
    tls,
    async stop() {
      await Promise.all([edge.close(), http.close()]);
      await sweeps.stop();
      await Promise.all([worker.stop(), scheduler.stop(), outboundWorker.stop()]);
      await Promise.all([passwords.close(), dkim.close()]);
      await transport.close();
      await db.close();
    },
  };
}
