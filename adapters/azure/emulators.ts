import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CosmosOpCounter } from './cosmos-ops';

/**
 * The local stand-ins for Cosmos DB and Blob Storage, for tests and `npm run bench`
 * only (both are dev dependencies). Each listens on 127.0.0.1, on a port the OS
 * picks, and is stopped by whoever started it.
 */

/** The well-known emulator key (public, not a secret). */
export const COSMOS_EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
/** Azurite's well-known development account (public, not a secret). */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Emulator {
  stop(): Promise<void>;
}

/**
 * A TLS key and certificate for 127.0.0.1. Tokens travel only over TLS (the Azure
 * SDKs refuse to send one over plain HTTP), so the identity tests serve the emulators
 * over TLS and run the client in a process that trusts the test CA (NODE_EXTRA_CA_CERTS).
 */
export interface LoopbackTls {
  key: string;
  cert: string;
  /** Paths of the same files (azurite reads files). */
  keyFile: string;
  certFile: string;
}

/**
 * @vercel/cosmosdb-server in this process, over plain HTTP, or over TLS with `tls`.
 * It does not check credentials; `authorizations` records the Authorization header
 * of every request so that a test can see which kind was sent; `ops` counts them by
 * operation (what Cosmos DB would bill).
 */
export async function startCosmosEmulator(opts: { tls?: LoopbackTls } = {}): Promise<Emulator & { endpoint: string; key: string; authorizations: string[]; ops: CosmosOpCounter }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cosmos = require('@vercel/cosmosdb-server') as { createHttpServer(): http.Server; createHttpsServer(o: { key: string; cert: string }): http.Server };
  const server = opts.tls ? cosmos.createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }) : cosmos.createHttpServer();
  const authorizations: string[] = [];
  const ops = new CosmosOpCounter();
  server.prependListener('request', (req: http.IncomingMessage) => {
    authorizations.push(decodeURIComponent(String(req.headers.authorization ?? '')));
    ops.record(req);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    key: COSMOS_EMULATOR_KEY,
    authorizations,
    ops,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Azurite's blob service as a child process: in-memory, telemetry off (it would
 * otherwise call out to the internet), API version check off (@azure/storage-blob
 * is newer than azurite 3.35 knows). With `tls` it serves HTTPS and also accepts
 * bearer tokens (`--oauth basic`: it checks a token's issuer, audience and lifetime,
 * not its signature).
 */
export async function startAzurite(opts: { tls?: LoopbackTls; port?: number } = {}): Promise<Emulator & { connectionString: string; blobEndpoint: string }> {
  const main = require.resolve('azurite/dist/src/blob/main.js');
  const workdir = mkdtempSync(join(tmpdir(), 'nimbus-azurite-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [main, '--blobHost', '127.0.0.1', '--blobPort', String(opts.port ?? 0), '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--loose', ...(opts.tls ? ['--cert', opts.tls.certFile, '--key', opts.tls.keyFile, '--oauth', 'basic'] : [])],
    { cwd: workdir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`azurite did not start in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listens on https?:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited (${code}):\n${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const scheme = opts.tls ? 'https' : 'http';
  const blobEndpoint = `${scheme}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=${scheme};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/**
 * An HTTP proxy in front of an emulator that lets a test decide, request by
 * request, to answer with a fault instead (429 with a retry-after hint, 503), to
 * cut the connection after some bytes of the request body, to pass it on only once a
 * promise settles (`until`: a request held in flight), or to pass it on and answer a
 * fault in place of the emulator's answer (`lostAnswer`: the change is made, the
 * client is told it failed). For fault tests only.
 */
export interface FaultProxy extends Emulator {
  url: string;
  /** Requests seen, faults included. */
  requests: Array<{ method: string; path: string; fault: string | null }>;
  /** Called per request; return a fault or null to pass it through. */
  decide: (req: { method: string; path: string }) => { status: 429 | 503 } | { cutAfterBytes: number } | { until: Promise<unknown> } | { lostAnswer: 503 } | null;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const proxy: FaultProxy = { url: '', requests: [], decide: () => null, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const fault = proxy.decide({ method: req.method ?? 'GET', path });
    proxy.requests.push({ method: req.method ?? 'GET', path, fault: fault ? JSON.stringify(fault) : null });
    if (fault && 'status' in fault) {
      req.resume();
      req.on('end', () => {
        const body = JSON.stringify({ code: fault.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', message: 'injected by the test proxy' });
        res.writeHead(fault.status, { 'content-type': 'application/json', 'x-ms-retry-after-ms': '20', 'x-ms-substatus': '0', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers: req.headers }, (answer) => {
      if (fault && 'lostAnswer' in fault) {
        answer.resume();
        answer.on('end', () => res.writeHead(fault.lostAnswer, { 'content-type': 'application/json', 'x-ms-substatus': '0' }).end('{"code":"ServiceUnavailable","message":"injected by the test proxy"}'));
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    if (fault && 'until' in fault) {
      const body: Buffer[] = [];
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => {
        const send = () => out.end(Buffer.concat(body));
        fault.until.then(send, send);
      });
      return;
    }
    if (fault && 'cutAfterBytes' in fault) {
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= fault.cutAfterBytes) {
          out.destroy();
          req.socket.destroy();
        } else out.write(chunk);
      });
      req.on('end', () => out.end());
      return;
    }
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${port}${upstream.pathname === '/' ? '' : upstream.pathname}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}

/**
 * A minimal AMQP 1.0 endpoint (rhea) that the real @azure/service-bus sender talks
 * to, for tests: there is no Service Bus emulator for Node. It answers the CBS
 * put-token handshake with 200, accepts sender links to any queue and records each
 * message (id and JSON body), dropping a message id it has already recorded as
 * Service Bus's duplicate detection does. Faults, one per delivery in the order
 * given by `script` (then every delivery is accepted): `refuse` rejects it with a
 * Service Bus error condition (e.g. com.microsoft:server-busy: surely not queued);
 * `hold` queues it but never settles it (the sender times out, not knowing);
 * `drop` queues it and cuts the connection before settling. Peeking (the
 * management link's peek-message operation) browses the messages not yet settled
 * by the test's stand-in consumer (`settle`). A message with the
 * `x-opt-scheduled-enqueue-time` annotation (the SDK's scheduledEnqueueTimeUtc) is
 * accepted at once and peekable, but recorded and handed to onMessage only at that
 * time, as Service Bus holds a scheduled message. Connect with
 * `Endpoint=sb://127.0.0.1:<port>;...;UseDevelopmentEmulator=true` (plain TCP), or
 * with `tls` at `127.0.0.1:<port>` and a token credential (AMQPS, as the SDK always
 * uses with a namespace). `tokens` records every put-token (type, audience, token):
 * `servicebus.windows.net:sastoken` for a key, `jwt` for a Microsoft Entra token. It
 * does not implement receiving, sessions or any other management operation.
 */
export type DeliveryFault = 'refuse' | 'hold' | 'drop';

export interface FakeServiceBus extends Emulator {
  connectionString: string;
  /** host:port, the value of NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace for this endpoint. */
  namespace: string;
  /** Messages as they become visible (a scheduled one at its time), with that time. */
  messages: Array<{ queue: string; messageId: string; body: unknown; scheduledFor?: number; visibleAt: number }>;
  /** Scheduled messages accepted and not yet visible. */
  scheduled: Array<{ queue: string; messageId: string; scheduledFor: number }>;
  tokens: Array<{ type: string; audience: string; token: string }>;
  /** Deliveries that arrived, refused and duplicate ones included. */
  deliveries: number;
  /** What happens to the next deliveries, one entry each (replaces any script left). */
  script(faults: DeliveryFault[], refusalCondition?: string): void;
  /** Rejects the next `count` deliveries with `condition` (0: none). */
  refuse(count: number, condition?: string): void;
  /** Called for each message queued (not for duplicates) when it becomes visible: at once, or at its scheduled enqueue time. */
  onMessage: ((m: { queue: string; messageId: string; body: unknown }) => void) | null;
  /** The consumer is done with it (completed or dead-lettered): peeking no longer shows it. */
  settle(messageId: string): void;
}

export async function startFakeServiceBus(opts: { tls?: LoopbackTls } = {}): Promise<FakeServiceBus> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const rhea = require('rhea') as typeof import('rhea');
  // deliveries are settled by hand below, so that one can be left unsettled
  const container = rhea.create_container({ id: 'fake-service-bus', autoaccept: false });
  const cbsReplies = new Map<unknown, import('rhea').Sender>();
  /** Per connection, the link that answers management requests of each entity. */
  const managementReplies = new Map<unknown, Map<string, import('rhea').Sender>>();
  /** What was queued, as received (re-encoded for peeking), by position: sequence number - 1. */
  const queued: Array<{ queue: string; messageId: string; raw: import('rhea').Message }> = [];
  const settled = new Set<string>();
  let faults: DeliveryFault[] = [];
  let condition = 'com.microsoft:server-busy';
  const timers = new Set<NodeJS.Timeout>();
  const fake: FakeServiceBus = {
    connectionString: '',
    namespace: '',
    messages: [],
    scheduled: [],
    tokens: [],
    deliveries: 0,
    onMessage: null,
    script(next, refusalCondition = 'com.microsoft:server-busy') {
      faults = [...next];
      condition = refusalCondition;
    },
    refuse(count, refusalCondition) {
      fake.script(Array<DeliveryFault>(count).fill('refuse'), refusalCondition);
    },
    settle(messageId) {
      settled.add(messageId);
    },
    stop: async () => undefined,
  };
  container.on('sender_open', (ctx) => {
    const address = (ctx.sender!.source as { address?: string } | undefined)?.address;
    if (address === '$cbs') cbsReplies.set(ctx.connection, ctx.sender!);
    if (address?.endsWith('/$management')) {
      if (!managementReplies.has(ctx.connection)) managementReplies.set(ctx.connection, new Map());
      managementReplies.get(ctx.connection)!.set(address, ctx.sender!);
    }
    ctx.sender!.set_source({ address });
  });
  container.on('receiver_open', (ctx) => {
    ctx.receiver!.set_target({ address: (ctx.receiver!.target as { address?: string } | undefined)?.address });
  });
  container.on('message', (ctx) => {
    const queue = (ctx.receiver!.target as { address?: string } | undefined)?.address ?? '';
    const message = ctx.message!;
    if (queue === '$cbs') {
      const props = (message.application_properties ?? {}) as { type?: string; name?: string };
      fake.tokens.push({ type: String(props.type ?? ''), audience: String(props.name ?? ''), token: String(message.body ?? '') });
      cbsReplies.get(ctx.connection)?.send({ correlation_id: message.message_id, to: message.reply_to, application_properties: { 'status-code': 200, 'status-description': 'OK' }, body: null });
      ctx.delivery!.accept();
      return;
    }
    if (queue.endsWith('/$management')) {
      ctx.delivery!.accept();
      const reply = managementReplies.get(ctx.connection)?.get(queue);
      const entity = queue.slice(0, -'/$management'.length);
      const request = (message.body ?? {}) as { 'from-sequence-number'?: number | Buffer; 'message-count'?: number };
      if (message.application_properties?.operation !== 'com.microsoft:peek-message') {
        reply?.send({ correlation_id: message.message_id, to: message.reply_to, application_properties: { statusCode: 501, statusDescription: 'not implemented by the test endpoint' }, body: null });
        return;
      }
      const fromRaw = request['from-sequence-number'] ?? 1;
      const from = Buffer.isBuffer(fromRaw) ? Number(fromRaw.readBigInt64BE()) : Number(fromRaw);
      const page = queued
        .map((m, i) => ({ ...m, sequence: i + 1 }))
        .filter((m) => m.queue === entity && m.sequence >= from && !settled.has(m.messageId))
        .slice(0, request['message-count'] ?? 1)
        .map((m) => ({ message: rhea.message.encode({ ...m.raw, message_annotations: { ...m.raw.message_annotations, 'x-opt-sequence-number': m.sequence, 'x-opt-enqueued-time': new Date() } }) }));
      const answer = page.length ? { statusCode: 200, body: { messages: page } } : { statusCode: 204, body: null };
      reply?.send({ correlation_id: message.message_id, to: message.reply_to, application_properties: { statusCode: answer.statusCode }, body: answer.body });
      return;
    }
    fake.deliveries++;
    const fault = faults.shift();
    if (fault === 'refuse') {
      ctx.delivery!.reject({ condition, description: 'refused by the test endpoint' });
      return;
    }
    const messageId = String(message.message_id);
    if (!queued.some((m) => m.queue === queue && m.messageId === messageId)) {
      const raw = message.body as { content?: Buffer } | Buffer | unknown;
      const bytes = Buffer.isBuffer(raw) ? raw : Buffer.isBuffer((raw as { content?: Buffer })?.content) ? (raw as { content: Buffer }).content : null;
      const body = bytes ? JSON.parse(bytes.toString('utf8')) : raw;
      const annotation = (message.message_annotations as Record<string, unknown> | undefined)?.['x-opt-scheduled-enqueue-time'];
      const scheduledFor = annotation instanceof Date ? annotation.getTime() : typeof annotation === 'number' ? annotation : undefined;
      queued.push({ queue, messageId, raw: message });
      const enqueue = () => {
        const entry = { queue, messageId, body, visibleAt: Date.now(), ...(scheduledFor !== undefined ? { scheduledFor } : {}) };
        fake.messages.push(entry);
        fake.onMessage?.(entry);
      };
      if (scheduledFor === undefined || scheduledFor <= Date.now()) enqueue();
      else {
        const pending = { queue, messageId, scheduledFor };
        fake.scheduled.push(pending);
        // a timer can fire a millisecond before Date.now() reaches its time: it waits again then (nothing is visible early)
        const wait = () => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (Date.now() < scheduledFor) return wait();
            fake.scheduled.splice(fake.scheduled.indexOf(pending), 1);
            enqueue();
          }, scheduledFor - Date.now());
          timers.add(timer);
        };
        wait();
      }
    }
    if (fault === 'hold') return; // queued, but the sender never hears of it
    if (fault === 'drop') {
      (ctx.connection as unknown as { socket?: import('node:net').Socket }).socket?.destroy();
      return;
    }
    ctx.delivery!.accept();
  });
  const server = container.listen(opts.tls ? { port: 0, host: '127.0.0.1', transport: 'tls', key: opts.tls.key, cert: opts.tls.cert } : { port: 0, host: '127.0.0.1' }) as import('node:net').Server;
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  fake.namespace = `127.0.0.1:${port}`;
  fake.connectionString = `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=test-only-key;UseDevelopmentEmulator=true`;
  const sockets = new Set<import('node:net').Socket>();
  server.on(opts.tls ? 'secureConnection' : 'connection', (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  fake.stop = () =>
    new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return fake;
}

/**
 * The managed identity endpoint that App Service, Azure Functions and Container Apps
 * give a process (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01), on
 * 127.0.0.1: @azure/identity's ManagedIdentityCredential (inside DefaultAzureCredential)
 * asks it for tokens exactly as in Azure. It checks the secret header, records each
 * request (resource and client id) and answers an unsigned JWT whose audience is the
 * resource asked for, issued by a sts.windows.net tenant: enough for azurite's OAuth
 * check, which then refuses a token meant for another service.
 */
export interface IdentityEndpoint extends Emulator {
  /** The environment a process needs to use it. */
  env: { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
  requests: Array<{ resource: string; clientId: string | null }>;
}

export async function startIdentityEndpoint(): Promise<IdentityEndpoint> {
  const secret = randomUUID();
  const tenant = randomUUID();
  const requests: IdentityEndpoint['requests'] = [];
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const resource = url.searchParams.get('resource');
    if (url.pathname !== '/msi/token' || req.headers['x-identity-header'] !== secret || !resource || url.searchParams.get('api-version') !== '2019-08-01') {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_request' }));
      return;
    }
    const clientId = url.searchParams.get('client_id');
    requests.push({ resource, clientId });
    const now = Math.floor(Date.now() / 1000);
    const claims = { aud: resource, iss: `https://sts.windows.net/${tenant}/`, iat: now - 60, nbf: now - 60, exp: now + 3600, appid: clientId ?? 'system-assigned', oid: randomUUID(), tid: tenant };
    const token = `${b64({ typ: 'JWT', alg: 'none' })}.${b64(claims)}.`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_on: String(now + 3600), resource, token_type: 'Bearer', client_id: clientId ?? '' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    env: { IDENTITY_ENDPOINT: `http://127.0.0.1:${port}/msi/token`, IDENTITY_HEADER: secret },
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The audience claim of a JWT (the identity tests decode what the services were sent). */
export function jwtAudience(token: string): string | undefined {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: string }).aud;
  } catch {
    return undefined;
  }
}
