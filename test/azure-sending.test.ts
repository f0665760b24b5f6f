import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAzureAdapters } from '../adapters/azure/compose';
import { TableResolver } from '../adapters/dns/table-resolver';
import { startSendGridFake, type SendGridFake } from '../adapters/outbound/loopback-peers';
import { createOutboundTransport } from '../adapters/outbound/compose';
import { PasswordPool } from '../adapters/password-pool';
import { createLogger } from '../core/logger';
import { createAppContext } from '../functions/app-context';
import { INBOUND_TRIGGER } from '../functions/inbound-trigger';
import { OUTBOUND_TRIGGER } from '../functions/outbound-trigger';
import { registerFunctions } from '../functions/register';
import { startAzureEdge, type AzureEdge } from '../smtp-edge/azure-edge';
import { RecordingRegistry, startAzureStack, type AzureStack } from './azure-helpers';
import { PASSWORD, waitFor } from './helpers';

/**
 * Sending in the Azure shape, end to end in one process: the send API (a registered
 * HTTP function) → the real @azure/service-bus sender → the test AMQP endpoint (it
 * honours x-opt-scheduled-enqueue-time) → the registered outbound trigger → SendGrid
 * through @sendgrid/mail, its base URL on a loopback fake. The edge container's
 * submission listener takes mail from nodemailer the same way. Simulated, because they
 * cannot run here: Service Bus itself (adapters/azure/emulators.ts), the Functions
 * host's dispatch (RecordingRegistry), SendGrid (a loopback fake of its v3 endpoint).
 */
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

describe('Azure shape: sending through Service Bus and SendGrid', () => {
  let stack: AzureStack;
  let fake: SendGridFake;
  let registry: RecordingRegistry;
  let edge: AzureEdge;
  let token: string;
  let stop: () => Promise<void>;
  let adapters: ReturnType<typeof createAzureAdapters>;
  let maxPerHour: number;
  const triggerErrors: unknown[] = [];
  /** When the outbound trigger ran, per Service Bus message id. */
  const outboundRuns: Array<{ messageId: string; at: number }> = [];

  beforeAll(async () => {
    [stack, fake] = await Promise.all([startAzureStack(), startSendGridFake()]);
    const config = stack.config({ NIMBUS_OUTBOUND_TRANSPORT: 'sendgrid', NIMBUS_SENDGRID_API_KEY: 'SG.azure-test', NIMBUS_SENDGRID_BASE_URL: fake.baseUrl, NIMBUS_OUTBOUND_RETRY_SCHEDULE: '1.5', NIMBUS_SUBMISSION_PORT: '0', NIMBUS_SUBMISSION_TLS_PORT: '0', NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT: '4' });
    maxPerHour = config.NIMBUS_SEND_MAX_PER_HOUR;
    adapters = createAzureAdapters(config, logger);
    const passwords = new PasswordPool();
    const transport = createOutboundTransport(config);
    const context = createAppContext(config, { ...adapters, passwords, logger, setup: { code: config.NIMBUS_SETUP_TOKEN!, fromLoopback: false }, jwtSecret: config.NIMBUS_JWT_SECRET!, resolver: new TableResolver({}), transport });
    registry = new RecordingRegistry();
    registerFunctions(registry, () => context);
    // the Functions host's dispatch: each queue's messages to its trigger, as they become visible
    stack.bus.onMessage = (m) => {
      const trigger = m.queue === 'outbound' ? OUTBOUND_TRIGGER.name : INBOUND_TRIGGER.name;
      if (m.queue === 'outbound') outboundRuns.push({ messageId: m.messageId, at: Date.now() });
      registry.deliver(trigger, m.body, { messageId: m.messageId, deliveryCount: 1 }).catch((err) => triggerErrors.push(err));
    };
    edge = await startAzureEdge(config, logger);
    const setup = await registry.call('setup', { method: 'POST', body: { domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin', setupCode: config.NIMBUS_SETUP_TOKEN } });
    expect(setup.status).toBe(201);
    token = setup.json.token;
    stop = async () => {
      stack.bus.onMessage = null;
      await edge.stop();
      await passwords.close();
      await Promise.all([adapters.queue.close(), adapters.outboundQueue.close(), adapters.inboundBrowser.close(), adapters.outboundBrowser.close(), adapters.store.close()]);
    };
  }, 90_000);
  afterAll(async () => {
    await stop?.();
    await Promise.all([stack?.stop(), fake?.stop()]);
  });

  const delivery = async (id: string) => (await registry.call('mails-get', { method: 'GET', params: { id }, token })).json.delivery as Array<{ recipient: string; status: string; attempts: number; detail: string }>;

  it('API send → Service Bus → outbound trigger → SendGrid; a 503 schedules a retry that is delivered after its time, then sent', async () => {
    const answers = [{ status: 503, body: { errors: [{ message: 'try later' }] } }];
    fake.answer = () => answers.shift() ?? { status: 202 };
    const res = await registry.call('send', { method: 'POST', token, body: { to: ['pat@elsewhere.test'], subject: 'from the functions app', text: 'Hello from Azure', inReplyTo: '<up@elsewhere.test>' } });
    expect(res.status).toBe(202);
    const { id } = res.json as { id: string };

    const deferred = await waitFor(async () => ((await delivery(id))[0].status === 'deferred' ? delivery(id) : undefined), 30_000);
    expect(deferred[0]).toMatchObject({ attempts: 1, detail: 'SendGrid 503: try later' });
    const sent = await waitFor(async () => ((await delivery(id))[0].status === 'sent' ? delivery(id) : undefined), 30_000);
    expect(sent[0]).toMatchObject({ attempts: 2, detail: 'SendGrid 202 accepted' });
    expect(triggerErrors).toEqual([]);

    // two outbound messages: the first attempt, and the retry scheduled for 1.5 s later and not run before then
    const queued = stack.bus.messages.filter((m) => m.queue === 'outbound' && (m.body as { submissionId: string }).submissionId);
    const mine = queued.filter((m) => (m.body as { sentMessageId: string }).sentMessageId === id);
    expect(mine.map((m) => (m.body as { attempts: number }).attempts)).toEqual([0, 1]);
    const retry = mine[1];
    expect(retry.scheduledFor).toBeDefined();
    const ranAt = outboundRuns.find((r) => r.messageId === retry.messageId)!.at;
    expect(ranAt).toBeGreaterThanOrEqual(retry.scheduledFor!);
    expect(retry.scheduledFor! - (mine[0].visibleAt ?? 0)).toBeGreaterThanOrEqual(1_000);

    const posted = fake.requests.filter((r) => r.body?.subject === 'from the functions app');
    expect(posted).toHaveLength(2);
    expect(posted[1].body).toMatchObject({ personalizations: [{ to: [{ email: 'pat@elsewhere.test' }] }], from: { email: 'admin@example.com', name: 'Admin' }, headers: { 'In-Reply-To': '<up@elsewhere.test>' } });
  }, 60_000);

  it('the edge container takes submissions too: AUTH on its submission port, out through the same queue and trigger', async () => {
    fake.answer = () => ({ status: 202 });
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: edge.ports.submissionTls, secure: true, auth: { user: 'admin@example.com', pass: PASSWORD }, tls: { rejectUnauthorized: false } }); // its certificate is the process's own self-signed one
    const info = await transport.sendMail({ from: 'admin@example.com', to: 'quinn@elsewhere.test, admin@example.com', subject: 'through the edge', text: 'submitted in Azure' });
    expect(info.response).toMatch(/^250 /);
    const request = await waitFor(() => fake.requests.find((r) => r.body?.subject === 'through the edge'), 30_000);
    expect(request.body.personalizations).toEqual([{ to: [{ email: 'quinn@elsewhere.test' }] }]);
    // the copy to the hosted recipient went through the inbound queue and its trigger
    const inbox = await waitFor(async () => {
      const items = (await registry.call('mails-list', { method: 'GET', token })).json.items as Array<{ subject: string }>;
      return items.find((m) => m.subject === 'through the edge');
    }, 30_000);
    expect(inbox).toBeDefined();
    const wrong = await nodemailer
      .createTransport({ host: '127.0.0.1', port: edge.ports.submissionTls, secure: true, auth: { user: 'admin@example.com', pass: 'wrong password' }, tls: { rejectUnauthorized: false } })
      .sendMail({ from: 'admin@example.com', to: 'quinn@elsewhere.test', subject: 'x', text: 'x' })
      .then(() => null, (err: { response?: string }) => err.response);
    expect(wrong).toMatch(/^535 5\.7\.8 /);
  }, 60_000);

  it('the hourly send limit counts in Cosmos DB: the edge and the Functions (each its own client) share one count per sender', async () => {
    fake.answer = () => ({ status: 202 });
    const created = await registry.call('auth-register', { method: 'POST', token, body: { email: 'sam@example.com', password: 'sams long password', name: 'Sam' } });
    expect(created.status).toBe(201);
    // all but 2 of the hour's messages already counted (as another process would have)
    const prefilled = await adapters.sendCounter.countSend(created.json.id, { now: Date.now(), max: maxPerHour, windowMs: 3_600_000, take: maxPerHour - 2 });
    expect(prefilled).toEqual({ taken: maxPerHour - 2, waitMs: 0 });
    const samToken = (await registry.call('auth-login', { method: 'POST', body: { email: 'sam@example.com', password: 'sams long password' } })).json.token as string;
    const submit = (subject: string) =>
      nodemailer
        .createTransport({ host: '127.0.0.1', port: edge.ports.submissionTls, secure: true, auth: { user: 'sam@example.com', pass: 'sams long password' }, tls: { rejectUnauthorized: false } })
        .sendMail({ from: 'sam@example.com', to: 'quinn@elsewhere.test', subject, text: 'x' })
        .then((info) => info.response, (err: { response?: string }) => err.response);
    const apiSend = (subject: string) => registry.call('send', { method: 'POST', token: samToken, body: { to: ['quinn@elsewhere.test'], subject, text: 'x' } });
    // the last 2: one through the edge, one through the API, then neither takes more
    expect(await submit('limit 1')).toMatch(/^250 /);
    expect((await apiSend('limit 2')).status).toBe(202);
    const third = await apiSend('limit 3');
    expect(third.status).toBe(429);
    expect(third.json).toMatchObject({ code: 'RateLimited' });
    expect(await submit('limit 4')).toMatch(/^451 4\.7\.1 /);
  }, 60_000);

  it('the per-account login limit counts in Cosmos DB: wrong passwords spread over the edge (SMTP AUTH) and the API meet it together', async () => {
    const created = await registry.call('auth-register', { method: 'POST', token, body: { email: 'lee@example.com', password: 'lees long password', name: 'Lee' } });
    expect(created.status).toBe(201);
    const apiLogin = (password: string) => registry.call('auth-login', { method: 'POST', body: { email: 'lee@example.com', password } });
    const smtpAuth = (pass: string) =>
      nodemailer
        .createTransport({ host: '127.0.0.1', port: edge.ports.submissionTls, secure: true, auth: { user: 'lee@example.com', pass }, tls: { rejectUnauthorized: false } })
        .verify()
        .then(() => '235 accepted', (err: { response?: string }) => err.response);
    // the limit is 4 for the account; the tighter 5 per (account, address) is each process's own, and neither
    // process sees more than 2 failures of its own: only the count they share reaches 4
    for (const _ of [1, 2]) expect((await apiLogin('wrong password')).status).toBe(401);
    for (const _ of [1, 2]) expect(await smtpAuth('wrong password')).toMatch(/^535 5\.7\.8 /);
    const api = await apiLogin('lees long password');
    expect(api.status).toBe(429);
    expect(api.json).toMatchObject({ code: 'RateLimited' });
    expect(Number(api.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await smtpAuth('lees long password')).toMatch(/^421 4\.7\.0 /);
    // the count goes with the account: one made again at that address starts clean
    expect((await registry.call('users-delete', { method: 'DELETE', params: { id: created.json.id }, token })).status).toBe(204);
    expect((await registry.call('auth-register', { method: 'POST', token, body: { email: 'lee@example.com', password: 'lees long password', name: 'Lee' } })).status).toBe(201);
    expect((await apiLogin('lees long password')).status).toBe(200);
  }, 60_000);

  it('the per-account login count holds a place in Cosmos DB for each check: guesses sent at once to the edge and the API meet it together, right passwords leave nothing', async () => {
    const created = await registry.call('auth-register', { method: 'POST', token, body: { email: 'kim@example.com', password: 'kims long password', name: 'Kim' } });
    expect(created.status).toBe(201);
    const apiLogin = (password: string) => registry.call('auth-login', { method: 'POST', body: { email: 'kim@example.com', password } }).then((r) => r.status);
    const smtpAuth = (pass: string) =>
      nodemailer
        .createTransport({ host: '127.0.0.1', port: edge.ports.submissionTls, secure: true, auth: { user: 'kim@example.com', pass }, tls: { rejectUnauthorized: false } })
        .verify()
        .then(() => '235', (err: { response?: string }) => err.response?.slice(0, 9));
    // right passwords at once all pass, more than the limit of 4 has room for (the rest wait for the checks in
    // progress), and leave nothing counted (else fewer guesses would be checked below)
    const right = await Promise.all([...Array.from({ length: 3 }, () => apiLogin('kims long password')), ...Array.from({ length: 3 }, () => smtpAuth('kims long password'))]);
    expect(right).toEqual([200, 200, 200, '235', '235', '235']);
    // 12 guesses at once, 6 to each process: the limit of 4 holds for all of them together (a place is held
    // before each check). Without it each process checks up to its own limit of 4 for the account: 8 in all
    const answers = await Promise.all([...Array.from({ length: 6 }, () => apiLogin('wrong password')), ...Array.from({ length: 6 }, () => smtpAuth('wrong password'))]);
    expect(answers.filter((a) => a === 401 || a === '535 5.7.8')).toHaveLength(4);
    expect(answers.filter((a) => a === 429 || a === '421 4.7.0')).toHaveLength(8);
    expect(await apiLogin('kims long password')).toBe(429);
  }, 60_000);

  it('the login count document changes in atomic steps (under its etag): 6 checks at once, holding and ending places over and over, never hold more than the limit, and leave nothing', async () => {
    const counter = adapters.loginCounter;
    const window = { max: 2, windowMs: 900_000, holdMs: 60_000 };
    const pause = () => new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
    let inside = 0;
    let most = 0;
    let held = 0;
    const checks = async (w: number) => {
      for (let i = 0; i < 4; i++) {
        const id = `check-${w}-${i}`;
        while ((await counter.holdLogin('login~contended', { id, now: Date.now(), ...window })).outcome !== 'held') await pause();
        held++;
        most = Math.max(most, ++inside);
        await pause();
        inside--;
        await counter.endLoginHold('login~contended', { id, keep: false, now: Date.now(), windowMs: window.windowMs, holdMs: window.holdMs });
      }
    };
    await Promise.all(Array.from({ length: 6 }, (_, w) => checks(w)));
    expect(held).toBe(24);
    expect(most).toBe(2);
    // nothing left: a limit of 1 has room, and ending that hold removes the document
    expect(await counter.holdLogin('login~contended', { id: 'last', now: Date.now(), ...window, max: 1 })).toEqual({ outcome: 'held', waitMs: 0 });
    await counter.endLoginHold('login~contended', { id: 'last', keep: false, now: Date.now(), windowMs: window.windowMs, holdMs: window.holdMs });
    expect(await counter.holdLogin('login~contended', { id: 'again', now: Date.now(), ...window, max: 1 })).toEqual({ outcome: 'held', waitMs: 0 });
  }, 60_000);
});
