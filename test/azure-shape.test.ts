import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureBlobStore } from '../adapters/azure/azure-blob-store';
import { createAzureAdapters, type AzureAdapterOptions } from '../adapters/azure/compose';
import { createOutboundTransport } from '../adapters/outbound/compose';
import { CosmosMailStore } from '../adapters/azure/cosmos-mail-store';
import { startFaultProxy } from '../adapters/azure/emulators';
import { resolverFromConfig } from '../adapters/dns/node-resolver';
import { PasswordPool } from '../adapters/password-pool';
import type { Config } from '../core/config';
import { blobKeys } from '../core/blob-keys';
import { planFiling } from '../core/inbound';
import { newId } from '../core/ids';
import { createLogger, type Logger } from '../core/logger';
import type { InboundQueueMessage } from '../core/types';
import { createAppContext, type AppContext } from '../functions/app-context';
import { INBOUND_TRIGGER } from '../functions/inbound-trigger';
import { ORPHAN_SWEEP_TRIGGER } from '../functions/orphan-sweep-trigger';
import { registerFunctions } from '../functions/register';
import { startAzureEdge } from '../smtp-edge/azure-edge';
import { RecordingRegistry, listKeys, startAzureStack, type AzureStack } from './azure-helpers';
import { PASSWORD, captureLogger, rawSmtp, waitFor } from './helpers';

/**
 * The Azure shape in one process: the SMTP edge (Blob Storage on azurite, the real
 * Service Bus SDK sender) → the test AMQP endpoint, whose messages are handed to the
 * registered queue trigger as the Functions host would → Cosmos DB (emulator) → the
 * registered HTTP functions. Mocked: only the Functions host's dispatch (it cannot
 * run here) and Service Bus itself (the rhea endpoint in adapters/azure/emulators.ts).
 */
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
let stack: AzureStack;

beforeAll(async () => {
  stack = await startAzureStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

interface Shape {
  config: Config;
  context: AppContext;
  registry: RecordingRegistry;
  edgePort: number;
  adapters: ReturnType<typeof createAzureAdapters>;
  /** Trigger invocations that failed (the host would hand the message back). */
  triggerErrors: unknown[];
  token: string;
  stop(): Promise<void>;
}

/** Edge + Functions app on the stand-ins; queue messages flow to the trigger as they arrive. */
async function startShape(env: Record<string, string> = {}, functionsEnv: Record<string, string> = {}, edgeOptions: AzureAdapterOptions = {}, fnLogger: Logger = logger): Promise<Shape> {
  const config = stack.config(env);
  const edge = await startAzureEdge(config, logger, edgeOptions);
  const fnConfig = { ...config, ...functionsEnv } as Config;
  const adapters = createAzureAdapters(fnConfig, logger);
  const passwords = new PasswordPool();
  const transport = createOutboundTransport(fnConfig);
  const context = createAppContext(fnConfig, { ...adapters, passwords, logger: fnLogger, setup: { code: fnConfig.NIMBUS_SETUP_TOKEN!, fromLoopback: false }, jwtSecret: fnConfig.NIMBUS_JWT_SECRET!, resolver: resolverFromConfig(fnConfig), transport });
  const registry = new RecordingRegistry();
  registerFunctions(registry, () => context, { sweepIntervalMinutes: fnConfig.NIMBUS_SWEEP_INTERVAL_MINUTES });
  const triggerErrors: unknown[] = [];
  // the Functions host's part: hand each queued message to the trigger, settle it once filed
  stack.bus.onMessage = (m) => {
    registry.deliver(INBOUND_TRIGGER.name, m.body, { messageId: m.messageId, deliveryCount: 1 }).then(() => stack.bus.settle(m.messageId), (err) => triggerErrors.push(err));
  };
  // the Azure shape takes setup only with NIMBUS_SETUP_TOKEN, even from loopback
  const refused = await registry.call('setup', { method: 'POST', body: { domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin' } });
  expect(refused.status).toBe(403);
  expect(refused.json).toMatchObject({ code: 'SetupNotAllowed' });
  const setup = await registry.call('setup', { method: 'POST', body: { domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin', setupCode: fnConfig.NIMBUS_SETUP_TOKEN } });
  expect(setup.status).toBe(201);
  return {
    config,
    context,
    registry,
    edgePort: edge.port,
    adapters,
    triggerErrors,
    token: setup.json.token,
    async stop() {
      stack.bus.onMessage = null;
      await edge.stop();
      await passwords.close();
      await Promise.all([adapters.queue.close(), adapters.outboundQueue.close(), adapters.store.close(), adapters.inboundBrowser.close(), adapters.outboundBrowser.close(), transport.close()]);
    },
  };
}

async function inbox(shape: Shape): Promise<Array<{ id: string; subject: string; hasAttachments: boolean }>> {
  const res = await shape.registry.call('mails-list', { method: 'GET', token: shape.token });
  expect(res.status).toBe(200);
  return res.json.items;
}

describe('Azure shape end to end (edge → Blob + Service Bus → trigger → Cosmos DB → HTTP functions)', () => {
  let shape: Shape;
  beforeAll(async () => {
    shape = await startShape();
  }, 30_000);
  afterAll(async () => shape?.stop());

  it('a message sent with nodemailer is readable through the HTTP functions, raw bytes from Blob Storage', async () => {
    const sentBefore = stack.bus.messages.length;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: shape.edgePort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      from: 'Zoë <zoe@sender.test>',
      to: 'admin@example.com',
      subject: 'Über the cloud',
      text: 'Body text of the cloud message',
      attachments: [{ filename: 'report.pdf', content: Buffer.alloc(300 * 1024, 7) }],
    });
    expect(info.response).toMatch(/^250 /);
    const [item] = await waitFor(async () => ((await inbox(shape)).length === 1 ? inbox(shape) : undefined));
    expect(item).toMatchObject({ subject: 'Über the cloud', hasAttachments: true });
    expect(shape.triggerErrors).toEqual([]);

    // one queue message, the claim check: its id is the inbound id, its raw bytes are in Blob Storage
    const queued = stack.bus.messages.slice(sentBefore);
    expect(queued).toHaveLength(1);
    const body = queued[0].body as InboundQueueMessage;
    expect(queued[0]).toMatchObject({ queue: 'inbound', messageId: body.id });
    const blob = await shape.adapters.blobs.getBuffer(body.rawBlobKey);
    // the size counts this host's Authentication-Results, which travels beside the blob
    expect(body.rawPrefix).toMatch(/^Authentication-Results: mx\.test;\r\n/);
    expect(blob!.length + Buffer.byteLength(body.rawPrefix!)).toBe(body.size);

    const full = await shape.registry.call('mails-get', { method: 'GET', params: { id: item.id }, token: shape.token });
    expect(full.status).toBe(200);
    expect(full.json.text).toContain('Body text of the cloud message');
    expect(full.json.attachments).toMatchObject([{ filename: 'report.pdf', size: 300 * 1024 }]);
    const raw = await shape.registry.call('mails-raw', { method: 'GET', params: { id: item.id }, token: shape.token });
    expect(raw.status).toBe(200);
    expect(raw.bytes.equals(Buffer.concat([Buffer.from(body.rawPrefix!), blob!]))).toBe(true);

    // a search finds it by a folded word of the subject, and the folder counts it
    const search = await shape.registry.call('mails-list', { method: 'GET', query: { q: 'uber cloud' }, token: shape.token });
    expect(search.json.items.map((m: { id: string }) => m.id)).toEqual([item.id]);
    const boxes = await shape.registry.call('mailboxes-list', { method: 'GET', token: shape.token });
    expect(boxes.json.items ?? boxes.json).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Inbox', total: 1, unread: 1 })]));
  });

  it('GET /api/health reports Cosmos DB, Blob Storage and Service Bus ready', async () => {
    const health = await shape.registry.call('health', { method: 'GET' });
    expect(health).toMatchObject({ status: 200, json: { status: 'ok', checks: { store: 'ok', blobs: 'ok', queue: 'ok' } } });
  });

  it('a redelivered queue message files nothing twice', async () => {
    const before = await inbox(shape);
    const last = stack.bus.messages[stack.bus.messages.length - 1];
    await shape.registry.deliver(INBOUND_TRIGGER.name, last.body, { messageId: last.messageId, deliveryCount: 2 });
    expect(await inbox(shape)).toEqual(before);
  });

  it('recipients: unknown hosted address 550 5.1.1, foreign domain 554 5.7.1 (no relay), as in local mode', async () => {
    const replies = await rawSmtp(shape.edgePort, ['EHLO client.test\r\n', 'MAIL FROM:<a@sender.test>\r\n', 'RCPT TO:<nobody@example.com>\r\n', 'RCPT TO:<x@elsewhere.test>\r\n', 'QUIT\r\n'], 6);
    expect(replies[3]).toMatch(/^550 5\.1\.1 /);
    expect(replies[4]).toMatch(/^554 5\.7\.1 /);
  });

  it('a user created through the API receives at once, although the edge refused the address a moment before', async () => {
    const rcpt = (address: string) => rawSmtp(shape.edgePort, ['EHLO client.test\r\n', 'MAIL FROM:<a@sender.test>\r\n', `RCPT TO:<${address}>\r\n`, 'QUIT\r\n'], 5);
    expect((await rcpt('newcomer@example.com'))[3]).toMatch(/^550 5\.1\.1 /);
    const created = await shape.registry.call('auth-register', { method: 'POST', token: shape.token, body: { email: 'newcomer@example.com', password: 'a long enough password', name: 'New' } });
    expect(created.status).toBe(201);
    expect((await rcpt('newcomer@example.com'))[3]).toMatch(/^250 /);
  });
});

describe('Azure shape faults', () => {
  it('Cosmos DB 429 and 503 are retried with backoff; when they never stop: TemporaryFailure, HTTP 503, SMTP 451', async () => {
    const proxy = await startFaultProxy(stack.cosmos.endpoint);
    const store = new CosmosMailStore({ endpoint: proxy.url, key: stack.cosmos.key, database: `faults-${process.pid}`, retry: { attempts: 5, baseMs: 10, maxMs: 100 } });
    try {
      const user = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
      let plan = ['429', '429', '503'];
      proxy.decide = () => {
        const next = plan.shift();
        return next ? { status: Number(next) as 429 | 503 } : null;
      };
      const from = proxy.requests.length;
      const started = Date.now();
      expect(await store.getUserById(user.id)).toEqual(user);
      const seen = proxy.requests.slice(from).map((r) => (r.fault ? JSON.parse(r.fault).status : 'ok'));
      expect(seen).toEqual([429, 429, 503, 'ok']);
      expect(Date.now() - started).toBeGreaterThanOrEqual(40); // two retry-after hints of 20 ms at least

      proxy.decide = () => ({ status: 503 });
      plan = [];
      await expect(store.getUserById(user.id)).rejects.toMatchObject({ code: 'TemporaryFailure' });
    } finally {
      proxy.decide = () => null;
      await store.close();
      await proxy.stop();
    }
  });

  it('the shared login count under lost answers and races: a hold sent again is not taken twice, an end never removes another check\'s hold', async () => {
    const proxy = await startFaultProxy(stack.cosmos.endpoint);
    const database = `logins-${process.pid}`;
    const viaProxy = new CosmosMailStore({ endpoint: proxy.url, key: stack.cosmos.key, database, retry: { attempts: 5, baseMs: 10, maxMs: 100 } });
    const direct = new CosmosMailStore({ endpoint: stack.cosmos.endpoint, key: stack.cosmos.key, database });
    const windowMs = 900_000;
    const hold = (store: CosmosMailStore, key: string, id: string, max = 3) => store.holdLogin(key, { id, now: Date.now(), max, windowMs, holdMs: 60_000 }).then((r) => r.outcome);
    const end = (store: CosmosMailStore, key: string, id: string, keep = false) => store.endLoginHold(key, { id, keep, now: Date.now(), windowMs, holdMs: 60_000 });
    /** The next request of `method` on a document gets `fault`; the rest pass. */
    const once = (method: string, fault: { lostAnswer: 503 } | { until: Promise<unknown> }) => {
      let used = false;
      proxy.decide = (req) => (req.method === method && /\/docs(\/|$)/.test(req.path) && !used ? ((used = true), fault) : null);
    };
    let open = () => {};
    try {
      // the create lands, its answer is lost: sent again it meets its own hold (409, read again), held once
      once('POST', { lostAnswer: 503 });
      expect(await hold(viaProxy, 'login~lost', 'a')).toBe('held');
      expect(await hold(direct, 'login~lost', 'b')).toBe('held');
      expect(await hold(direct, 'login~lost', 'c')).toBe('held');
      expect(await hold(direct, 'login~lost', 'd')).toBe('busy');
      // the replace that ends a lands, its answer is lost: sent again (412, read again) a is gone, nothing more is removed
      once('PUT', { lostAnswer: 503 });
      await end(viaProxy, 'login~lost', 'a');
      // the same for b's wrong password, kept as a failure: counted once
      once('PUT', { lostAnswer: 503 });
      await end(viaProxy, 'login~lost', 'b', true);
      expect(await hold(direct, 'login~lost', 'd')).toBe('held'); // 1 failure, c, d
      expect(await hold(direct, 'login~lost', 'e')).toBe('busy');
      expect(proxy.requests.filter((r) => r.fault).map((r) => `${r.method} ${r.path.replace(/.*\/colls\//, '')}`)).toEqual(['POST directory/docs', 'PUT directory/docs/sends~login~lost', 'PUT directory/docs/sends~login~lost']);

      // an end that removes the document (its hold was the last) while another check takes a place: the delete,
      // under the etag it read, fails (412), and the end reads again and leaves the other's hold
      expect(await hold(direct, 'login~race', 'x')).toBe('held');
      once('DELETE', { until: new Promise<void>((resolve) => (open = resolve)) });
      const ending = end(viaProxy, 'login~race', 'x');
      await waitFor(() => proxy.requests.some((r) => r.method === 'DELETE'));
      expect(await hold(direct, 'login~race', 'y')).toBe('held');
      open();
      await ending;
      expect(await hold(direct, 'login~race', 'z', 1)).toBe('busy'); // y still holds the one place
    } finally {
      open();
      proxy.decide = () => null;
      await Promise.all([viaProxy.close(), direct.close()]);
      await proxy.stop();
    }
  });

  it('Cosmos DB unavailable behind the edge and the API: 451 4.3.0 at RCPT, 503 {code} over HTTP, no stack', async () => {
    const proxy = await startFaultProxy(stack.cosmos.endpoint);
    const shape = await startShape({ NIMBUS_COSMOS_ENDPOINT: proxy.url, NIMBUS_DIRECTORY_CACHE_MS: '0' });
    try {
      proxy.decide = () => ({ status: 503 });
      const replies = await rawSmtp(shape.edgePort, ['EHLO client.test\r\n', 'MAIL FROM:<a@sender.test>\r\n', 'RCPT TO:<admin@example.com>\r\n', 'QUIT\r\n'], 5, 30_000);
      expect(replies[3]).toMatch(/^451 4\.3\.0 /);
      const health = await shape.registry.call('health', { method: 'GET' });
      expect(health).toMatchObject({ status: 503, json: { status: 'degraded', checks: { store: 'unavailable', blobs: 'ok', queue: 'ok' } } });
      const me = await shape.registry.call('auth-me', { method: 'GET', token: shape.token });
      expect(me.status).toBe(503);
      expect(me.json).toEqual({ error: expect.any(String), code: 'TemporaryFailure' });
      expect(me.bytes.toString()).not.toMatch(/at .*\.js|cosmos/i);
    } finally {
      proxy.decide = () => null;
      await shape.stop();
      await proxy.stop();
    }
  }, 60_000);

  it('a Blob upload failing mid-stream gives 451 4.3.0 and leaves no blob, no queue message, no record', async () => {
    const proxy = await startFaultProxy(stack.azurite.blobEndpoint);
    const connection = stack.azurite.connectionString.replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=${proxy.url}`);
    const shape = await startShape({ NIMBUS_BLOB_CONNECTION_STRING: connection }, { NIMBUS_BLOB_CONNECTION_STRING: stack.azurite.connectionString });
    try {
      const queuedBefore = stack.bus.messages.length;
      // every block upload is cut after 64 KB of its body (the SDK's retries are cut too)
      proxy.decide = (req) => (req.method === 'PUT' && /comp=block(&|$)/.test(req.path) ? { cutAfterBytes: 64 * 1024 } : null);
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: shape.edgePort, secure: false, ignoreTLS: true });
      const failure = await transport
        .sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'cut', text: 'x'.repeat(600 * 1024) })
        .then(() => null, (err: { responseCode?: number; response?: string }) => err);
      expect(failure?.responseCode).toBe(451);
      expect(failure?.response).toMatch(/^451 4\.3\.0 /);
      expect(proxy.requests.some((r) => r.fault)).toBe(true);
      expect(stack.bus.messages.length).toBe(queuedBefore);
      const blobs = new AzureBlobStore({ connectionString: stack.azurite.connectionString, container: shape.config.NIMBUS_BLOB_CONTAINER });
      expect(await listKeys(blobs)).toEqual([]);
      expect(await inbox(shape)).toEqual([]);

      // the same message goes through once the storage behaves
      proxy.decide = () => null;
      const ok = await transport.sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'whole', text: 'x'.repeat(600 * 1024) });
      expect(ok.response).toMatch(/^250 /);
      await waitFor(async () => ((await inbox(shape)).length === 1 ? true : undefined));
    } finally {
      await shape.stop();
      await proxy.stop();
    }
  }, 60_000);

  it('Service Bus: a busy refusal is retried and delivered once; a send that keeps failing is 451 and its blob is removed', async () => {
    const shape = await startShape();
    try {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: shape.edgePort, secure: false, ignoreTLS: true });
      stack.bus.refuse(2);
      const queuedBefore = stack.bus.messages.length;
      const ok = await transport.sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'after busy', text: 'hello' });
      expect(ok.response).toMatch(/^250 /);
      expect(stack.bus.messages.length).toBe(queuedBefore + 1);
      await waitFor(async () => ((await inbox(shape)).length === 1 ? true : undefined));

      stack.bus.refuse(1000);
      const failure = await transport.sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'never queued', text: 'hello' }).then(
        () => null,
        (err: { responseCode?: number; response?: string }) => err,
      );
      expect(failure?.response).toMatch(/^451 4\.3\.0 /);
      const blobs = new AzureBlobStore({ connectionString: stack.azurite.connectionString, container: shape.config.NIMBUS_BLOB_CONTAINER });
      expect(await listKeys(blobs)).toHaveLength(1); // only the first message's: the refused one surely was not queued
    } finally {
      stack.bus.refuse(0);
      await shape.stop();
    }
  }, 60_000);

  describe('Service Bus sends whose outcome is unknown (the service took the message, the settlement never came)', () => {
    let shape: Shape;
    const transport = () => nodemailer.createTransport({ host: '127.0.0.1', port: shape.edgePort, secure: false, ignoreTLS: true });
    /** The message the fake queued under `subject`, filed by the trigger: its raw bytes must be there. */
    const filedWithBody = async (subject: string) => {
      const item = await waitFor(async () => (await inbox(shape)).find((m) => m.subject === subject));
      const raw = await shape.registry.call('mails-raw', { method: 'GET', params: { id: item.id }, token: shape.token });
      expect(raw.status).toBe(200);
      expect(raw.bytes.toString()).toContain(`Subject: ${subject}`);
      return item;
    };
    beforeAll(async () => {
      shape = await startShape({}, {}, { serviceBus: { tryTimeoutMs: 800, maxRetries: 2, retryDelayMs: 20 } });
    }, 30_000);
    afterAll(async () => {
      stack.bus.script([]);
      await shape?.stop();
    });

    it('every try times out: 451 4.3.0, and the blob stays, so the message the queue got is filed whole', async () => {
      stack.bus.script(['hold', 'hold', 'hold']);
      const failure = await transport().sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'held', text: 'hello' }).then(() => null, (err: { response?: string }) => err);
      expect(failure?.response).toMatch(/^451 4\.3\.0 /);
      const body = stack.bus.messages.find((m) => (m.body as InboundQueueMessage).summary.subject === 'held')!.body as InboundQueueMessage;
      expect(await listKeys(shape.adapters.blobs)).toContain(body.rawBlobKey);
      await filedWithBody('held');
    });

    it('a timeout then refusals: still unknown (the first try may have queued it), the blob stays', async () => {
      stack.bus.script(['hold', 'refuse', 'refuse']);
      const failure = await transport().sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'held then refused', text: 'hello' }).then(() => null, (err: { response?: string }) => err);
      expect(failure?.response).toMatch(/^451 4\.3\.0 /);
      await filedWithBody('held then refused');
    });

    it('the connection drops after the transfer: the retry meets duplicate detection, 250, one copy', async () => {
      const before = stack.bus.deliveries;
      stack.bus.script(['drop']);
      const ok = await transport().sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'dropped once', text: 'hello' });
      expect(ok.response).toMatch(/^250 /);
      expect(stack.bus.deliveries - before).toBe(2);
      await filedWithBody('dropped once');
      expect((await inbox(shape)).filter((m) => m.subject === 'dropped once')).toHaveLength(1);
    });
  });

  it('a poison queue message is dead-lettered after maxDeliveryCount attempts without holding up the others', async () => {
    const shape = await startShape();
    try {
      const good = (n: number): InboundQueueMessage => ({
        id: `good-${n}-${Date.now()}`,
        envelope: { mailFrom: 'a@sender.test', rcptTo: ['admin@example.com'], remoteAddress: '127.0.0.1', clientHostname: 'c', helo: 'c', authUser: null },
        rawBlobKey: `raw/good-${n}.eml`,
        size: 10,
        receivedAt: Date.now() + n,
        summary: { from: null, to: [], cc: [], subject: `good ${n}`, date: null, messageId: null, attachments: [], snippet: '' },
        auth: null,
      });
      const result = await simulateServiceBus(shape.registry, [
        { messageId: 'g1', body: good(1) },
        { messageId: 'p1', body: Buffer.from('{not json') },
        { messageId: 'g2', body: good(2) },
        { messageId: 'p2', body: { id: 42, envelope: 'nope' } },
        { messageId: 'g3', body: good(3) },
      ], { maxDeliveryCount: 5, concurrency: 2 });
      expect(result.deadLettered.sort((a, b) => a.messageId.localeCompare(b.messageId))).toEqual([{ messageId: 'p1', deliveryCount: 5 }, { messageId: 'p2', deliveryCount: 5 }]);
      expect(result.completed.sort()).toEqual(['g1', 'g2', 'g3']);
      // each good message was filed on its first delivery, none waited for the poison ones to run out
      expect(result.deliveries.filter((d) => d.messageId.startsWith('g')).map((d) => d.deliveryCount)).toEqual([1, 1, 1]);
      const lastGood = result.deliveries.findIndex((d) => d.messageId === 'g3');
      const lastPoison = result.deliveries.map((d) => d.messageId).lastIndexOf('p2');
      expect(lastGood).toBeLessThan(lastPoison);
      expect((await inbox(shape)).map((m) => m.subject).sort()).toEqual(['good 1', 'good 2', 'good 3']);
    } finally {
      await shape.stop();
    }
  });
});

/**
 * Service Bus's peek-lock delivery as the Functions host drives it, simulated
 * because neither can run here: each message is handed to the trigger; a throw
 * abandons it (delivery count + 1, back of the queue); at maxDeliveryCount it moves
 * to the dead-letter queue. Up to `concurrency` invocations run at once.
 */
async function simulateServiceBus(registry: RecordingRegistry, messages: Array<{ messageId: string; body: unknown }>, opts: { maxDeliveryCount: number; concurrency: number }) {
  const queue = messages.map((m) => ({ ...m, deliveryCount: 0 }));
  const deliveries: Array<{ messageId: string; deliveryCount: number }> = [];
  const completed: string[] = [];
  const deadLettered: Array<{ messageId: string; deliveryCount: number }> = [];
  const worker = async () => {
    for (let m = queue.shift(); m; m = queue.shift()) {
      m.deliveryCount++;
      deliveries.push({ messageId: m.messageId, deliveryCount: m.deliveryCount });
      try {
        await registry.deliver(INBOUND_TRIGGER.name, m.body, { messageId: m.messageId, deliveryCount: m.deliveryCount });
        completed.push(m.messageId);
      } catch {
        if (m.deliveryCount >= opts.maxDeliveryCount) deadLettered.push({ messageId: m.messageId, deliveryCount: m.deliveryCount });
        else queue.push(m);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { deliveries, completed, deadLettered };
}

describe('Azure shape: blobs nothing refers to', () => {
  const HOUR = 3_600_000;
  let shape: Shape;
  const capture = captureLogger();
  const transport = () => nodemailer.createTransport({ host: '127.0.0.1', port: shape.edgePort, secure: false, ignoreTLS: true });
  /** Mail queued in Service Bus that the Functions host has not handed to the trigger yet. */
  const queueWithoutFiling = async (to: string[], subject: string): Promise<InboundQueueMessage> => {
    const deliver = stack.bus.onMessage;
    stack.bus.onMessage = null;
    try {
      expect((await transport().sendMail({ from: 'a@sender.test', to, subject, text: `${subject} body` })).response).toMatch(/^250 /);
    } finally {
      stack.bus.onMessage = deliver;
    }
    return stack.bus.messages.find((m) => (m.body as InboundQueueMessage).summary.subject === subject)!.body as InboundQueueMessage;
  };
  const login = async (email: string, password: string) => (await shape.registry.call('auth-login', { method: 'POST', body: { email, password } })).json.token as string;

  beforeAll(async () => {
    shape = await startShape({}, {}, {}, capture.logger);
  }, 30_000);
  afterAll(async () => shape?.stop());

  it('Cosmos DB: deleting one recipient\'s copy for good keeps the bytes the other recipient\'s copy, still in the queue, needs', async () => {
    expect((await shape.registry.call('auth-register', { method: 'POST', token: shape.token, body: { email: 'bob@example.com', password: 'bobs long password', name: 'Bob' } })).status).toBe(201);
    const message = await queueWithoutFiling(['admin@example.com', 'bob@example.com'], 'for two');
    // the trigger filed the admin's copy and failed before Bob's (Service Bus will deliver it again)
    const items = await planFiling(shape.adapters.store, message, logger);
    const admin = (await shape.adapters.store.getUserByEmail('admin@example.com'))!;
    const [adminsCopy] = await shape.adapters.store.fileMessages(items.filter((i) => i.userId === admin.id));
    for (let i = 0; i < 2; i++) expect((await shape.registry.call('mails-delete', { method: 'DELETE', params: { id: adminsCopy.id }, token: shape.token })).status).toBe(200);
    expect(await shape.adapters.store.getMessage(admin.id, adminsCopy.id)).toBeNull();
    expect(await listKeys(shape.adapters.blobs)).toContain(message.rawBlobKey);
    // the redelivery files Bob's copy, and he reads it whole
    await shape.registry.deliver(INBOUND_TRIGGER.name, message, { messageId: message.id, deliveryCount: 2 });
    stack.bus.settle(message.id);
    const bob = await login('bob@example.com', 'bobs long password');
    const [bobsCopy] = (await shape.registry.call('mails-list', { method: 'GET', token: bob })).json.items;
    const raw = await shape.registry.call('mails-raw', { method: 'GET', params: { id: bobsCopy.id }, token: bob });
    expect(raw.status).toBe(200);
    expect(raw.bytes.toString()).toContain('for two body');
  });

  it('the sweeper keeps what a live queue message or a record refers to and removes the rest: a crash leftover, a dead letter\'s bytes', async () => {
    const crashed = blobKeys.inbound(newId());
    await shape.adapters.blobs.put(crashed, Buffer.from('Subject: crashed\r\n\r\nx\r\n'));
    const waiting = await queueWithoutFiling(['admin@example.com'], 'still waiting');
    const dead = await queueWithoutFiling(['admin@example.com'], 'dead lettered');
    stack.bus.settle(dead.id); // moved to the dead-letter queue: never filed
    const before = await listKeys(shape.adapters.blobs);
    expect(before).toEqual(expect.arrayContaining([crashed, waiting.rawBlobKey, dead.rawBlobKey]));
    expect((await shape.context.orphans.sweep(Date.now() + 24 * HOUR - HOUR)).orphans).toBe(0); // all younger than the grace period
    const report = await shape.context.orphans.sweep(Date.now() + 25 * HOUR);
    expect(report).toMatchObject({ orphans: 2, removed: 2, dryRun: false, unfinished: { count: 0, bytes: 0 } });
    const after = await listKeys(shape.adapters.blobs);
    expect(after).not.toContain(crashed);
    expect(after).not.toContain(dead.rawBlobKey);
    expect(after).toContain(waiting.rawBlobKey);
    expect(after).toHaveLength(before.length - 2); // every filed message kept its bytes
    await shape.registry.deliver(INBOUND_TRIGGER.name, waiting, { messageId: waiting.id, deliveryCount: 1 });
    stack.bus.settle(waiting.id);
  });

  it('the timer function runs the same sweep on its schedule (NIMBUS_SWEEP_INTERVAL_MINUTES)', async () => {
    expect([...shape.registry.timerFunctions.keys()].sort()).toEqual(['domain-timer', ORPHAN_SWEEP_TRIGGER.name]);
    expect(shape.registry.timerFunctions.get(ORPHAN_SWEEP_TRIGGER.name)).toMatchObject({ schedule: '0 0 */1 * * *' });
    const from = capture.lines.length;
    await shape.registry.tick(ORPHAN_SWEEP_TRIGGER.name);
    const summary = capture.lines.slice(from).find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('orphan sweep:'));
    expect(summary).toMatchObject({ orphans: 0, removed: 0, dryRun: false, graceHours: 24 });
    expect(summary!.scanned).toBe((await listKeys(shape.adapters.blobs)).length);
  });
});

describe('the edge container', () => {
  it('runs from exactly the files smtp-edge/Dockerfile copies: accepts mail, answers its healthcheck, stops on SIGTERM', async () => {
    // no Docker engine here: lay out the final stage's files as the Dockerfile copies them and run them
    const root = resolve(__dirname, '..');
    const dockerfile = readFileSync(join(root, 'smtp-edge', 'Dockerfile'), 'utf8');
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2); // multi-stage
    expect(finalStage).toMatch(/^USER node$/m); // not root
    expect(finalStage).toMatch(/^HEALTHCHECK .*dist\/smtp-edge\/healthcheck\.js/m);
    const copies = [...finalStage.matchAll(/^COPY --from=build \/src\/(\S+) \.\/(\S+)$/gm)].map((m) => [m[1], m[2]]);
    expect(copies.length).toBeGreaterThan(3);
    const app = mkdtempSync(join(tmpdir(), 'nimbus-edge-image-'));
    for (const [from, to] of copies) cpSync(join(root, from), join(app, to), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
    const env = stack.env({ NIMBUS_LOG_LEVEL: 'info', NIMBUS_MODE: 'azure' });
    // its CMD, as the image runs it (without npm start's Node flags: in 1 GiB V8's own sizes are smaller)
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(finalStage)![1]) as string[];
    expect(cmd).toEqual(['node', 'dist/smtp-edge/main.js']);
    const child = spawn(process.execPath, cmd.slice(1), { cwd: app, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let output = '';
      child.stderr.on('data', (c) => (output += c));
      const port = await new Promise<number>((resolvePort, reject) => {
        child.stdout.on('data', (c) => {
          output += c;
          const m = /"port":(\d+)[^\n]*SMTP edge listening|SMTP edge listening[^\n]*"port":(\d+)/.exec(output);
          if (m) resolvePort(Number(m[1] ?? m[2]));
        });
        child.once('exit', (code) => reject(new Error(`edge exited ${code}: ${output}`)));
      });
      const store = new CosmosMailStore({ endpoint: stack.cosmos.endpoint, key: stack.cosmos.key, database: env.NIMBUS_COSMOS_DATABASE });
      await store.setup({ domain: 'example.com', email: 'admin@example.com', name: 'Admin', passwordHash: 'x' });
      await store.close();
      const before = stack.bus.messages.length;
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
      expect((await transport.sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'from the image', text: 'hi' })).response).toMatch(/^250 /);
      expect(stack.bus.messages.length).toBe(before + 1);
      const health = await new Promise<number | null>((done) => spawn(process.execPath, ['dist/smtp-edge/healthcheck.js'], { cwd: app, env: { NIMBUS_SMTP_PORT: String(port) } }).once('exit', done));
      expect(health).toBe(0);
      const exited = new Promise<number | null>((done) => child.once('exit', done));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const unhealthy = await new Promise<number | null>((done) => spawn(process.execPath, ['dist/smtp-edge/healthcheck.js'], { cwd: app, env: { NIMBUS_SMTP_PORT: String(port) } }).once('exit', done));
      expect(unhealthy).toBe(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(app, { recursive: true, force: true });
    }
  }, 60_000);
});
