import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackRelay, startSendGridFake, startSilentServer, type LoopbackRelay, type SendGridFake } from '../adapters/outbound/loopback-peers';
import { generateDkimKey } from '../core/dkim';
import { summarize } from '../core/drafts';
import { listInbox, startTestHost, waitFor, type TestHost } from './helpers';
import { createUser, deliveryOf, listFolder, verifyDkim, waitForDelivery, waitInFolder } from './sending-helpers';

/**
 * Sending through the HTTP API (drafts and the one-shot send) and what happens after:
 * retries on the schedule, bounces, timeouts, a restart while messages wait, no
 * transport, and SendGrid's answers. Real HTTP, real SMTP relay client (nodemailer)
 * and @sendgrid/mail against loopback peers; retry waits shortened by the setting.
 */
const FAST_RETRY = { NIMBUS_OUTBOUND_RETRY_SCHEDULE: '0.3', NIMBUS_RELAY_TIMEOUT_MS: '5000' };

describe('the send API', () => {
  let relay: LoopbackRelay;
  let host: TestHost;
  let bob: string;
  const post = (path: string, body: unknown, token = host.token) => host.api(path, { method: 'POST', token, body: JSON.stringify(body) });
  const relayed = (subject: string) => waitFor(() => relay.messages.find((m) => m.raw.toString('utf8').includes(`Subject: ${subject}`)), 20_000);

  beforeAll(async () => {
    relay = await startLoopbackRelay();
    host = await startTestHost({ ...FAST_RETRY, NIMBUS_OUTBOUND_TRANSPORT: 'smtp', NIMBUS_RELAY_HOST: '127.0.0.1', NIMBUS_RELAY_PORT: String(relay.port), NIMBUS_MAX_ATTACHMENT_BYTES: '5000', NIMBUS_MAX_RECIPIENTS: '5' });
    bob = await createUser(host, 'bob@example.com', 'bobs password', 'Bob');
  }, 60_000);
  afterAll(async () => {
    await host?.destroy();
    await relay?.stop();
  });

  it('POST /api/mails/{id}/send: 202 {id, delivery}; the draft leaves Drafts, the copy is in Sent; Bcc only in the envelope; server Message-ID and Date; threading kept', async () => {
    const key = await generateDkimKey();
    await host.app.store.setDomainDkim('example.com', key);
    const draft = (await (
      await post('/mails', { to: ['bob@example.com', { address: 'carol@elsewhere.test', name: 'Carol' }], bcc: ['hidden@elsewhere.test'], subject: 'draft to send', text: 'Draft body', inReplyTo: '<orig@elsewhere.test>', references: ['<root@elsewhere.test>', '<orig@elsewhere.test>'] })
    ).json()) as { id: string };
    const upload = new FormData();
    upload.append('file', new Blob(['attached text']), 'note.txt');
    expect((await fetch(`http://127.0.0.1:${host.httpPort}/api/mails/${draft.id}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${host.token}` }, body: upload })).status).toBe(201);

    const before = Date.now();
    const res = await post(`/mails/${draft.id}/send`, {});
    expect(res.status).toBe(202);
    const sent = (await res.json()) as { id: string; delivery: Array<{ recipient: string; status: string }> };
    expect(sent.delivery.map((d) => [d.recipient, d.status])).toEqual([
      ['bob@example.com', 'sent'],
      ['carol@elsewhere.test', 'queued'],
      ['hidden@elsewhere.test', 'queued'],
    ]);
    expect(await listFolder(host, host.token, 'drafts')).toEqual([]);
    expect((await host.api(`/mails/${draft.id}`, { token: host.token })).status).toBe(404);
    expect((await listFolder(host, host.token, 'sent')).map((m) => m.id)).toContain(sent.id);

    const arrived = await relayed('draft to send');
    expect(arrived.recipients.sort()).toEqual(['carol@elsewhere.test', 'hidden@elsewhere.test']);
    const text = arrived.raw.toString();
    expect(text).not.toMatch(/^Bcc:/im);
    expect((await verifyDkim(arrived.raw, 'example.com', key))[0].status.result).toBe('pass');
    const parsed = await simpleParser(arrived.raw);
    expect(parsed.messageId).toMatch(/^<[0-9a-z]{26}@example\.com>$/);
    expect(parsed.date!.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(parsed.inReplyTo).toBe('<orig@elsewhere.test>');
    expect(parsed.references).toEqual(['<root@elsewhere.test>', '<orig@elsewhere.test>']);
    expect(parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['note.txt', 'attached text']]);
    await waitInFolder(host, bob, 'inbox', 'draft to send');

    const delivery = await waitForDelivery(host, host.token, sent.id, (d) => d.every((x) => x.status === 'sent'));
    expect(delivery.map((d) => [d.recipient, d.status, d.attempts])).toEqual([
      ['bob@example.com', 'sent', 0],
      ['carol@elsewhere.test', 'sent', 1],
      ['hidden@elsewhere.test', 'sent', 1],
    ]);
    const view = (await (await host.api(`/mails/${sent.id}`, { token: host.token })).json()) as { delivery: Array<Record<string, unknown>> };
    expect(Object.keys(view.delivery[1]).sort()).toEqual(['attempts', 'detail', 'nextAttemptAt', 'recipient', 'status']);
  });

  it('POST /api/send: JSON with base64 attachments, and multipart with a file; both arrive whole', async () => {
    const json = await post('/send', { to: ['dan@elsewhere.test'], cc: ['bob@example.com'], subject: 'one-shot json', text: 'plain', html: '<p>rich</p>', attachments: [{ filename: 'data.bin', contentType: 'application/octet-stream', content: Buffer.from([1, 2, 3, 250]).toString('base64') }] });
    expect(json.status).toBe(202);
    const viaJson = await simpleParser((await relayed('one-shot json')).raw);
    expect(viaJson.html).toBe('<p>rich</p>');
    expect(viaJson.attachments[0].content).toEqual(Buffer.from([1, 2, 3, 250]));
    await waitInFolder(host, bob, 'inbox', 'one-shot json');

    const form = new FormData();
    form.append('to', 'erin@elsewhere.test, fay@elsewhere.test');
    form.append('subject', 'one-shot multipart');
    form.append('text', 'from a script');
    form.append('file', new Blob(['col1,col2\n']), 'report.csv');
    const multipart = await fetch(`http://127.0.0.1:${host.httpPort}/api/send`, { method: 'POST', headers: { authorization: `Bearer ${host.token}` }, body: form });
    expect(multipart.status).toBe(202);
    const arrived = await relayed('one-shot multipart');
    expect(arrived.recipients.sort()).toEqual(['erin@elsewhere.test', 'fay@elsewhere.test']);
    expect((await simpleParser(arrived.raw)).attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['report.csv', 'col1,col2\n']]);
  });

  it('a domain without a DKIM key yet: its mail goes out unsigned, while a domain with a key signs', async () => {
    await host.app.store.createDomain('nokey.test');
    const nia = await createUser(host, 'nia@nokey.test', 'nias password 123', 'Nia');
    expect((await post('/send', { to: ['dan@elsewhere.test'], subject: 'from a domain with no key', text: 'hi' }, nia)).status).toBe(202);
    const unsigned = await relayed('from a domain with no key');
    expect(unsigned.raw.toString()).toMatch(/^From: Nia <nia@nokey\.test>/m);
    expect(unsigned.raw.toString()).not.toMatch(/^DKIM-Signature:/im);
    const key = await generateDkimKey();
    await host.app.store.setDomainDkim('nokey.test', key);
    expect((await post('/send', { to: ['dan@elsewhere.test'], subject: 'from the same domain with a key', text: 'hi' }, nia)).status).toBe(202);
    expect((await verifyDkim((await relayed('from the same domain with a key')).raw, 'nokey.test', key))[0].status.result).toBe('pass');
  });

  it('the message the API composed is read back on the analysis thread, giving what the calling thread would', async () => {
    const calls: Buffer[] = [];
    const edgeSummarize = host.edge.summarize.bind(host.edge);
    host.edge.summarize = (raw) => {
      calls.push(raw);
      return edgeSummarize(raw);
    };
    try {
      const res = await post('/send', { to: ['bob@example.com'], subject: 'read back on the thread', text: 'the body', attachments: [{ filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('attached').toString('base64') }] });
      expect(res.status).toBe(202);
      expect(calls).toHaveLength(1);
      const onThread = await edgeSummarize(calls[0]);
      expect(onThread).toEqual(await summarize(calls[0]));
      expect(onThread).toMatchObject({ subject: 'read back on the thread', attachments: [{ filename: 'a.txt' }] });
      const sent = await waitInFolder(host, host.token, 'sent', 'read back on the thread');
      expect(sent.hasAttachments).toBe(true);
    } finally {
      host.edge.summarize = edgeSummarize;
    }
  });

  it('bad input: no recipients 400, bad address 400, unknown hosted user 400, too many recipients 400, attachment over the limit 413, From not yours 403; nothing sent', async () => {
    const sentBefore = (await listFolder(host, host.token, 'sent')).length;
    const relayedBefore = relay.messages.length;
    const empty = (await (await post('/mails', { subject: 'nobody' })).json()) as { id: string };
    const expectError = async (res: Response, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ code, error: expect.any(String) });
    };
    await expectError(await post(`/mails/${empty.id}/send`, {}), 400, 'ValidationFailed');
    expect((await listFolder(host, host.token, 'drafts')).map((m) => m.id)).toContain(empty.id); // still a draft
    await expectError(await post('/send', { to: ['not an address'], subject: 'x' }), 400, 'ValidationFailed');
    await expectError(await post('/send', { to: ['nobody@example.com'], subject: 'x' }), 400, 'ValidationFailed');
    await expectError(await post('/send', { to: ['a@x.test', 'b@x.test', 'c@x.test'], cc: ['d@x.test', 'e@x.test'], bcc: ['f@x.test'], subject: 'x' }), 400, 'ValidationFailed');
    await expectError(await post('/send', { to: ['a@x.test'], subject: 'x', attachments: [{ filename: 'big.bin', content: Buffer.alloc(6000).toString('base64') }] }), 413, 'PayloadTooLarge');
    await expectError(await post('/send', { to: ['a@x.test'], subject: 'x', attachments: [{ filename: 'bad', content: '***' }] }), 400, 'ValidationFailed');
    await expectError(await post('/send', { from: 'bob@example.com', to: ['a@x.test'], subject: 'x' }), 403, 'Forbidden');
    await expectError(await post('/send', { from: 'someone@elsewhere.test', to: ['a@x.test'], subject: 'x' }), 403, 'Forbidden');
    await expectError(await post(`/mails/${empty.id}/send`, {}, bob), 404, 'NotFound'); // another user's draft
    await expectError(await host.api('/send', { method: 'POST', body: JSON.stringify({ to: ['a@x.test'] }) }), 401, 'Unauthenticated');
    expect((await listFolder(host, host.token, 'sent')).length).toBe(sentBefore);
    expect(relay.messages.length).toBe(relayedBefore);
  });

  it('a relay that answers 451 and then 250: deferred, retried on the schedule, sent', async () => {
    let refusals = 1;
    relay.rcpt = (a) => (a === 'grey@elsewhere.test' && refusals-- > 0 ? [451, '4.7.1 Greylisted, try again'] : null);
    try {
      const { id } = (await (await post('/send', { to: ['grey@elsewhere.test'], subject: 'greylisted', text: 'x' })).json()) as { id: string };
      const deferred = await waitForDelivery(host, host.token, id, (d) => d[0].status === 'deferred');
      expect(deferred[0]).toMatchObject({ attempts: 1, detail: expect.stringMatching(/^451 4\.7\.1 Greylisted/) });
      expect(Date.parse(deferred[0].nextAttemptAt!)).toBeGreaterThan(Date.now() - 5000);
      const done = await waitForDelivery(host, host.token, id, (d) => d[0].status === 'sent');
      expect(done[0]).toMatchObject({ attempts: 2, nextAttemptAt: null });
      expect((await relayed('greylisted')).recipients).toEqual(['grey@elsewhere.test']);
    } finally {
      relay.rcpt = () => null;
    }
  });

  it('a relay that answers 550: failed at once, and a delivery report (RFC 3464) with the reply and the headers in the sender\'s Inbox', async () => {
    relay.rcpt = (a) => (a === 'gone@elsewhere.test' ? [550, '5.1.1 User unknown'] : null);
    try {
      const { id } = (await (await post('/send', { to: ['gone@elsewhere.test', 'fine@elsewhere.test'], subject: 'partly bounced', text: 'x' })).json()) as { id: string };
      const d = await waitForDelivery(host, host.token, id, (list) => list.every((x) => x.status !== 'queued'));
      expect(d.map((x) => [x.recipient, x.status, x.detail?.slice(0, 9)])).toEqual([
        ['gone@elsewhere.test', 'failed', '550 5.1.1'],
        ['fine@elsewhere.test', 'sent', '250 2.6.0'],
      ]);
      const bounce = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'Undelivered Mail Returned to Sender'));
      const raw = Buffer.from(await (await host.api(`/mails/${bounce.id}/raw`, { token: host.token })).arrayBuffer());
      const text = raw.toString();
      expect(text).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status; boundary=/m);
      expect(text).toMatch(/^Content-Type: message\/delivery-status\r?$/m);
      expect(text).toContain('Final-Recipient: rfc822; gone@elsewhere.test');
      expect(text).toContain('Status: 5.1.1');
      expect(text).toContain('Diagnostic-Code: smtp; 550 5.1.1 User unknown');
      expect(text).not.toContain('Final-Recipient: rfc822; fine@elsewhere.test');
      expect(text).toMatch(/^Content-Type: text\/rfc822-headers\r?\n(?:.*\r?\n)*Subject: partly bounced/m);
      expect(text).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@mx\.test>/m);
    } finally {
      relay.rcpt = () => null;
    }
  });
});

describe('sending faults', () => {
  it('a relay that accepts the connection and never answers: deferred with the timeout as detail', async () => {
    const silent = await startSilentServer();
    const host = await startTestHost({ NIMBUS_OUTBOUND_RETRY_SCHEDULE: '60', NIMBUS_RELAY_TIMEOUT_MS: '500', NIMBUS_OUTBOUND_TRANSPORT: 'smtp', NIMBUS_RELAY_HOST: '127.0.0.1', NIMBUS_RELAY_PORT: String(silent.port) });
    try {
      const { id } = (await (await host.api('/send', { method: 'POST', token: host.token, body: JSON.stringify({ to: ['x@elsewhere.test'], subject: 'into the void', text: 'x' }) })).json()) as { id: string };
      const [d] = await waitForDelivery(host, host.token, id, (list) => list[0].status !== 'queued');
      expect(d).toMatchObject({ status: 'deferred', attempts: 1, detail: expect.stringMatching(/ETIMEDOUT|timeout/i) });
      expect(Date.parse(d.nextAttemptAt!) - Date.now()).toBeGreaterThan(30_000); // the next try is a minute away, as scheduled
    } finally {
      await host.destroy();
      await silent.stop();
    }
  }, 60_000);

  it('the host restarted while a message is deferred: it is still sent afterwards (nothing lost)', async () => {
    const relay = await startLoopbackRelay();
    relay.rcpt = () => [421, '4.3.2 Not now'];
    const env = { NIMBUS_OUTBOUND_RETRY_SCHEDULE: '2', NIMBUS_OUTBOUND_TRANSPORT: 'smtp', NIMBUS_RELAY_HOST: '127.0.0.1', NIMBUS_RELAY_PORT: String(relay.port), NIMBUS_RELAY_TIMEOUT_MS: '5000' };
    const first = await startTestHost(env);
    let second: TestHost | null = null;
    try {
      const { id } = (await (await first.api('/send', { method: 'POST', token: first.token, body: JSON.stringify({ to: ['later@elsewhere.test'], subject: 'survives a restart', text: 'x' }) })).json()) as { id: string };
      await waitForDelivery(first, first.token, id, (d) => d[0].status === 'deferred');
      await first.stop(); // same data folder, kept
      relay.rcpt = () => null;
      expect(relay.messages).toEqual([]);
      second = await startTestHost(env, { dataDir: first.dataDir });
      const done = await waitForDelivery(second, second.token, id, (d) => d[0].status === 'sent');
      expect(done[0].attempts).toBe(2);
      expect(relay.messages.map((m) => m.recipients)).toEqual([['later@elsewhere.test']]);
    } finally {
      await (second ?? first).destroy();
      await relay.stop();
    }
  }, 60_000);

  it('temporary failures until the lifetime ends: failed with a bounce that says it expired', async () => {
    const relay = await startLoopbackRelay();
    relay.rcpt = () => [450, '4.2.1 Mailbox busy'];
    // a lifetime of about 4 s (the first attempt may wait for the DKIM thread to load from source under a loaded test run), tries every 0.4 s
    const host = await startTestHost({ NIMBUS_OUTBOUND_LIFETIME_HOURS: String(4 / 3600), NIMBUS_OUTBOUND_RETRY_SCHEDULE: '0.4', NIMBUS_OUTBOUND_TRANSPORT: 'smtp', NIMBUS_RELAY_HOST: '127.0.0.1', NIMBUS_RELAY_PORT: String(relay.port) });
    try {
      const { id } = (await (await host.api('/send', { method: 'POST', token: host.token, body: JSON.stringify({ to: ['busy@elsewhere.test'], subject: 'expires', text: 'x' }) })).json()) as { id: string };
      const [d] = await waitForDelivery(host, host.token, id, (list) => list[0].status === 'failed');
      expect(d.attempts).toBeGreaterThanOrEqual(2);
      expect(d.detail).toMatch(/^gave up after \d+ attempts .*450 4\.2\.1 Mailbox busy/);
      const bounce = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'Undelivered Mail Returned to Sender'));
      const raw = await (await host.api(`/mails/${bounce.id}/raw`, { token: host.token })).text();
      expect(raw).toContain('Status: 4.4.7');
    } finally {
      await host.destroy();
      await relay.stop();
    }
  }, 60_000);

  it('no transport configured (the local default): foreign recipients are held and say why, hosted ones still get it; once a relay is configured the held one is sent (nothing lost)', async () => {
    const schedule = { NIMBUS_OUTBOUND_RETRY_SCHEDULE: '2' };
    const host = await startTestHost(schedule);
    let second: TestHost | null = null;
    const relay = await startLoopbackRelay();
    try {
      const bob = await createUser(host, 'bob@example.com', 'bobs password', 'Bob');
      const res = await host.api('/send', { method: 'POST', token: host.token, body: JSON.stringify({ to: ['bob@example.com', 'x@elsewhere.test'], subject: 'nowhere to go', text: 'x' }) });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const d = await waitForDelivery(host, host.token, id, (list) => list[1].status !== 'queued');
      expect(d.map((x) => x.status)).toEqual(['sent', 'held']);
      expect(d[1].detail).toMatch(/no outbound transport is configured.*sent at a later attempt once one is/);
      expect(d[1].nextAttemptAt).not.toBeNull();
      await waitInFolder(host, bob, 'inbox', 'nowhere to go');
      const health = (await (await host.api('/health')).json()) as { status: string; outbound: { transport: string; status: string } };
      expect(health).toMatchObject({ status: 'ok', outbound: { transport: 'none', status: 'none' } });
      // still held at the next attempt, nothing bounced
      await waitForDelivery(host, host.token, id, (list) => list[1].attempts >= 2);
      await host.stop(); // same data folder, kept
      expect(relay.messages).toEqual([]);
      second = await startTestHost({ ...schedule, NIMBUS_OUTBOUND_TRANSPORT: 'smtp', NIMBUS_RELAY_HOST: '127.0.0.1', NIMBUS_RELAY_PORT: String(relay.port) }, { dataDir: host.dataDir });
      const done = await waitForDelivery(second, second.token, id, (list) => list[1].status === 'sent');
      expect(done[1].attempts).toBeGreaterThanOrEqual(3);
      expect(relay.messages.map((m) => m.recipients)).toEqual([['x@elsewhere.test']]);
      expect((await listInbox(second)).map((m) => m.subject)).not.toContain('Undelivered Mail Returned to Sender');
    } finally {
      await (second ?? host).destroy();
      await relay.stop();
    }
  }, 60_000);
});

describe('sending through SendGrid (local shape, loopback fake of the v3 API)', () => {
  let fake: SendGridFake;
  let host: TestHost;
  beforeAll(async () => {
    fake = await startSendGridFake();
    host = await startTestHost({ ...FAST_RETRY, NIMBUS_OUTBOUND_TRANSPORT: 'sendgrid', NIMBUS_SENDGRID_API_KEY: 'SG.local-test-key', NIMBUS_SENDGRID_BASE_URL: fake.baseUrl });
  }, 60_000);
  afterAll(async () => {
    await host?.destroy();
    await fake?.stop();
  });
  const send = async (subject: string) => ((await (await host.api('/send', { method: 'POST', token: host.token, body: JSON.stringify({ to: ['pat@elsewhere.test'], subject, text: 'x' }) })).json()) as { id: string }).id;
  const requestsFor = (subject: string) => fake.requests.filter((r) => r.body?.subject === subject);

  it('429 and 503 are retried until SendGrid takes it (202)', async () => {
    const answers = [{ status: 429, headers: { 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000)) } }, { status: 503 }, { status: 202 }];
    fake.answer = (r) => (r.body?.subject === 'retried by sendgrid' ? answers.shift() ?? { status: 202 } : { status: 202 });
    const id = await send('retried by sendgrid');
    const [d] = await waitForDelivery(host, host.token, id, (list) => list[0].status === 'sent');
    expect(d).toMatchObject({ attempts: 3, detail: 'SendGrid 202 accepted' });
    expect(requestsFor('retried by sendgrid')).toHaveLength(3);
  });

  it('400 fails the recipient with a bounce', async () => {
    fake.answer = (r) => (r.body?.subject === 'refused by sendgrid' ? { status: 400, body: { errors: [{ message: 'Does not contain a valid address.' }] } } : { status: 202 });
    const id = await send('refused by sendgrid');
    const [d] = await waitForDelivery(host, host.token, id, (list) => list[0].status === 'failed');
    expect(d.detail).toBe('SendGrid 400: Does not contain a valid address.');
    const bounce = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'Undelivered Mail Returned to Sender'));
    expect(await (await host.api(`/mails/${bounce.id}/raw`, { token: host.token })).text()).toContain('Diagnostic-Code: smtp; SendGrid 400: Does not contain a valid address.');
  });

  it('401 keeps the message deferred (no bounce), and /api/health says the transport is misconfigured', async () => {
    const inboxBefore = (await listInbox(host)).length;
    fake.answer = () => ({ status: 401, body: { errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked' }] } });
    try {
      const id = await send('key revoked');
      const [d] = await waitForDelivery(host, host.token, id, (list) => list[0].status === 'deferred' && list[0].attempts >= 2);
      expect(d.detail).toMatch(/^transport misconfigured: SendGrid 401/);
      // anyone sees that it is misconfigured; only an administrator sees SendGrid's words
      const health = await host.api('/health');
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'degraded', checks: { outbound: 'misconfigured' }, outbound: { transport: 'sendgrid', status: 'misconfigured', detail: null } });
      const asAdmin = await host.api('/health', { token: host.token });
      expect(asAdmin.status).toBe(503);
      expect(await asAdmin.json()).toMatchObject({ outbound: { status: 'misconfigured', detail: expect.stringContaining('SendGrid 401') } });
      // a user who is not an administrator, and a token that is no token
      const userToken = await createUser(host, 'quinn@example.com', 'quinns password');
      for (const token of [userToken, 'not-a-token']) {
        expect(((await (await host.api('/health', { token })).json()) as { outbound: { detail: unknown } }).outbound.detail).toBeNull();
      }
      expect((await listInbox(host)).length).toBe(inboxBefore);
      // once the key is fixed, the deferred message goes out
      fake.answer = () => ({ status: 202 });
      await waitForDelivery(host, host.token, id, (list) => list[0].status === 'sent');
      expect((await host.api('/health')).status).toBe(200);
    } finally {
      fake.answer = () => ({ status: 202 });
    }
  });

  it('a message to the fake carries no DKIM-Signature header even when the domain has a key (SendGrid signs)', async () => {
    await host.app.store.setDomainDkim('example.com', await generateDkimKey());
    const id = await send('no dkim header');
    await waitForDelivery(host, host.token, id, (list) => list[0].status === 'sent');
    const [request] = requestsFor('no dkim header');
    expect(Object.keys(request.body.headers ?? {}).map((h) => h.toLowerCase())).not.toContain('dkim-signature');
    expect(request.authorization).toBe('Bearer SG.local-test-key');
    expect((await deliveryOf(host, host.token, id))[0].recipient).toBe('pat@elsewhere.test');
  });
});
