import nodemailer from 'nodemailer';
import { createAzureAdapters } from '../adapters/azure/compose';
import type { CosmosOpCounts } from '../adapters/azure/cosmos-ops';
import { startAzurite, startCosmosEmulator, startFakeServiceBus } from '../adapters/azure/emulators';
import { startLoopbackDnsServer } from '../adapters/dns/loopback-dns-server';
import { resolverFromConfig } from '../adapters/dns/node-resolver';
import { createOutboundTransport } from '../adapters/outbound/compose';
import { hashPassword, inProcessPasswords } from '../core/auth';
import { loadConfig } from '../core/config';
import { fileInbound, isInboundQueueMessage } from '../core/inbound';
import { createLogger } from '../core/logger';
import type { InboundQueueMessage } from '../core/types';
import { createAppContext } from '../functions/app-context';
import { routes } from '../functions/http/routes';
import { createHttpServer } from '../local/http-server';
import { startAzureEdge } from '../smtp-edge/azure-edge';

const PASSWORD = 'bench password 123';

export interface CosmosOperationFigures {
  /** The edge's directory lookups for the first message to a recipient, and per message after it (cached). */
  rcptFirst: CosmosOpCounts;
  rcptCachedPerMessage: number;
  /** The inbound trigger filing one message for one recipient, and for two (per recipient); each user's first filing in the process (it finds the Inbox) not counted. */
  filingOneRecipient: CosmosOpCounts;
  filingPerRecipientOfTwo: number;
  login: CosmosOpCounts;
  /** The Inbox's first page on an instance that has not seen the user yet (it finds the Inbox's id once). */
  firstPage: CosmosOpCounts;
  /** The same first page again (a poll). */
  firstPageAgain: CosmosOpCounts;
  /** An API send to one foreign recipient (not the user's first), all it asks of Cosmos DB; and of that, the hourly send limit's check and count. */
  apiSend: CosmosOpCounts;
  /** A message submitted over SMTP (AUTH on a kept connection) to one foreign recipient, from MAIL FROM to the reply to DATA (not the connection's first). */
  smtpSubmission: CosmosOpCounts;
  sendLimitCheck: CosmosOpCounts;
  sendLimitCount: CosmosOpCounts;
}

/**
 * What the Azure shape asks of Cosmos DB, counted as requests to the emulator (each a
 * billed operation; the SDK's metadata reads apart): the edge's RCPT lookups, the
 * inbound trigger's filing, a login and the first page of the Inbox. The edge and the
 * adapters are the real ones; Service Bus is the test AMQP endpoint, and the trigger is
 * called as the Functions host calls it (fileInbound, one message per invocation); the
 * HTTP functions run in the local host's HTTP server (the same handlers the Function App
 * registers).
 */
export async function cosmosOperations(write: (line: string) => void): Promise<CosmosOperationFigures> {
  const [cosmos, azurite, bus, dns] = await Promise.all([startCosmosEmulator(), startAzurite(), startFakeServiceBus(), startLoopbackDnsServer({})]);
  const logger = createLogger('silent');
  const config = loadConfig({
    NIMBUS_MODE: 'azure',
    NIMBUS_COSMOS_ENDPOINT: cosmos.endpoint,
    NIMBUS_COSMOS_KEY: cosmos.key,
    NIMBUS_COSMOS_DATABASE: 'ops-bench',
    NIMBUS_BLOB_CONNECTION_STRING: azurite.connectionString,
    NIMBUS_BLOB_CONTAINER: 'ops-bench',
    NIMBUS_SERVICEBUS_CONNECTION: bus.connectionString,
    NIMBUS_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00',
    NIMBUS_SETUP_TOKEN: 'bench-setup-token-0123',
    NIMBUS_SMTP_HOST: '127.0.0.1',
    NIMBUS_SMTP_PORT: '0',
    NIMBUS_SUBMISSION_PORT: '0',
    NIMBUS_SUBMISSION_TLS_PORT: '0',
    NIMBUS_SMTP_GREETING_DELAY_MS: '0',
    NIMBUS_HOSTNAME: 'mx.bench',
    NIMBUS_LOG_LEVEL: 'silent',
    NIMBUS_DNS_SERVERS: dns.address,
    NIMBUS_DNS_TIMEOUT_MS: '500',
  });
  const adapters = createAzureAdapters(config, logger);
  const queued: InboundQueueMessage[] = [];
  bus.onMessage = (m) => {
    if (isInboundQueueMessage(m.body)) queued.push(m.body);
  };
  const edge = await startAzureEdge(config, logger);
  const transport = createOutboundTransport(config);
  // the HTTP functions as another instance runs them: their own adapters, nothing cached yet
  const httpAdapters = createAzureAdapters(config, logger);
  const context = createAppContext(config, { ...httpAdapters, passwords: inProcessPasswords, logger, setup: { code: config.NIMBUS_SETUP_TOKEN!, fromLoopback: false }, jwtSecret: config.NIMBUS_JWT_SECRET!, resolver: resolverFromConfig(config), transport });
  const http = createHttpServer(context, routes, { maxBodyBytes: config.NIMBUS_HTTP_MAX_BODY_BYTES, maxUploadBytes: config.NIMBUS_MAX_MESSAGE_BYTES });
  const { port: httpPort } = await http.listen(0, '127.0.0.1');
  const api = `http://127.0.0.1:${httpPort}/api`;
  const mailer = nodemailer.createTransport({ host: '127.0.0.1', port: edge.port, secure: false, ignoreTLS: true, pool: false });
  const send = (to: string[], subject: string) => mailer.sendMail({ from: 'someone@sender.test', to, subject, text: `Message ${subject}` });
  const waitQueued = async (n: number) => {
    for (let i = 0; i < 500 && queued.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    if (queued.length < n) throw new Error(`only ${queued.length} of ${n} messages reached the queue`);
  };
  try {
    const store = adapters.store;
    const hash = await hashPassword(PASSWORD);
    await store.setup({ domain: 'example.com', email: 'admin@example.com', name: 'Admin', passwordHash: hash });
    await store.createUser({ email: 'bob@example.com', name: 'Bob', passwordHash: hash, role: 'user' });
    // the edge's own clients have read the account and containers (metadata) once: warm it with a foreign domain's refusal
    await send(['nobody@elsewhere.test'], 'warm').catch(() => undefined);
    cosmos.ops.take();

    // RCPT: the first message to admin reads the directory; the next ones come from the edge's cache
    await send(['admin@example.com'], 'first');
    await waitQueued(1);
    const rcptFirst = cosmos.ops.take();
    const more = 10;
    for (let i = 0; i < more; i++) await send(['admin@example.com'], `again ${i}`);
    await waitQueued(more + 1);
    const rcptCached = cosmos.ops.take();
    // two messages to two users: the first reads bob's address, the second is measured
    await send(['admin@example.com', 'bob@example.com'], 'to two');
    await send(['admin@example.com', 'bob@example.com'], 'to two again');
    await waitQueued(more + 3);
    cosmos.ops.take();
    // the first filing for each user finds the user's Inbox (a query, kept for the process's life): not counted
    await fileInbound(store, [queued[0]], logger);
    cosmos.ops.take();
    let oneRecipient: CosmosOpCounts | null = null;
    for (const message of queued.slice(1, more + 1)) {
      await fileInbound(store, [message], logger);
      oneRecipient = cosmos.ops.take();
    }
    await fileInbound(store, [queued[more + 1]], logger);
    cosmos.ops.take();
    await fileInbound(store, [queued[more + 2]], logger);
    const twoRecipients = cosmos.ops.take();

    const loginRes = await fetch(`${api}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password: PASSWORD }) });
    if (loginRes.status !== 200) throw new Error(`login answered ${loginRes.status}`);
    const { token } = (await loginRes.json()) as { token: string };
    const login = cosmos.ops.take();
    const page = async () => {
      const res = await fetch(`${api}/mails?limit=50`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { items: unknown[] };
      if (res.status !== 200 || body.items.length !== more + 3) throw new Error(`first page: ${res.status}, ${body.items?.length} items`);
      return cosmos.ops.take();
    };
    const firstPage = await page();
    const firstPageAgain = await page();
    const apiSend = async (subject: string) => {
      const res = await fetch(`${api}/send`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ to: ['pat@elsewhere.test'], subject, text: 'hello' }) });
      if (res.status !== 202) throw new Error(`send answered ${res.status}`);
      return cosmos.ops.take();
    };
    await apiSend('first send'); // the first finds the Sent folder's id (kept for the process's life)
    const sendOps = await apiSend('second send');
    // SMTP submission on one kept connection (AUTH once, on loopback without TLS): the first message finds the Sent folder
    const submitter = nodemailer.createTransport({ host: '127.0.0.1', port: edge.ports.submission, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, auth: { user: 'admin@example.com', pass: PASSWORD } });
    const submit = (subject: string) => submitter.sendMail({ from: 'admin@example.com', to: 'pat@elsewhere.test', subject, text: 'hello' });
    let smtpOps: CosmosOpCounts;
    try {
      await submit('first submission');
      cosmos.ops.take();
      await submit('second submission');
      smtpOps = cosmos.ops.take();
    } finally {
      submitter.close();
    }
    const limit = context.sending.sendLimiter;
    const userId = (await store.getUserByEmail('bob@example.com'))!.id;
    cosmos.ops.take();
    await limit.check(userId);
    const sendLimitCheck = cosmos.ops.take();
    await limit.take(userId);
    const sendLimitCount = cosmos.ops.take();

    const figures: CosmosOperationFigures = {
      rcptFirst,
      rcptCachedPerMessage: rcptCached.data / more,
      filingOneRecipient: oneRecipient!,
      filingPerRecipientOfTwo: twoRecipients.data / 2,
      login,
      firstPage,
      firstPageAgain,
      apiSend: sendOps,
      smtpSubmission: smtpOps,
      sendLimitCheck,
      sendLimitCount,
    };
    const kinds = (c: CosmosOpCounts) => Object.entries(c.byKind).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
    write(`  Cosmos DB operations (billed requests to the emulator; the SDK's metadata reads and query plans apart):\n`);
    write(`    RCPT lookups, first message to an address   ${rcptFirst.data} (${kinds(rcptFirst)})\n`);
    write(`    RCPT lookups, per later message              ${figures.rcptCachedPerMessage.toFixed(1)} (directory cache; goal: 0)\n`);
    write(`    filing, per message per recipient            ${oneRecipient!.data} (${kinds(oneRecipient!)}); with two recipients ${figures.filingPerRecipientOfTwo.toFixed(1)} each (goal: at most 4; a user's first filing in a process adds 1 query for the Inbox)\n`);
    write(`    login                                        ${login.data} (${kinds(login)})\n`);
    write(`    first page of the Inbox                      ${firstPageAgain.data} (${kinds(firstPageAgain)}; goal: one query for the page); on an instance new to the user ${firstPage.data} (${kinds(firstPage)}: it finds the Inbox once)\n`);
    write(`    SMTP submission, one foreign recipient       ${smtpOps.data} (${kinds(smtpOps)}; AUTH once per connection, not counted)\n`);
    write(`    API send, one foreign recipient              ${sendOps.data} (${kinds(sendOps)}); of these the hourly send limit: check ${sendLimitCheck.data} (${kinds(sendLimitCheck)}), count ${sendLimitCount.data} (${kinds(sendLimitCount)})\n`);
    return figures;
  } finally {
    mailer.close();
    await http.close();
    await edge.stop();
    bus.onMessage = null;
    for (const a of [adapters, httpAdapters]) await Promise.all([a.queue.close(), a.outboundQueue.close(), a.store.close(), a.inboundBrowser.close(), a.outboundBrowser.close()]);
    await transport.close();
    await Promise.all([cosmos.stop(), azurite.stop(), bus.stop(), dns.stop()]);
  }
}
