import jwt from 'jsonwebtoken';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../core/auth';
import { PASSWORD, listInbox, startTestHost, waitFor, type TestHost } from './helpers';

/** The first HTTP routes over real HTTP on loopback: success and every error path they have. */
describe('HTTP API', () => {
  let host: TestHost;
  let bobToken: string;
  let adminMessageId: string;
  beforeAll(async () => {
    host = await startTestHost();
    await host.app.store.createUser({ email: 'bob@example.com', name: 'Bob', passwordHash: await hashPassword('bobs password'), role: 'user' });
    const login = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'bob@example.com', password: 'bobs password' }) });
    bobToken = ((await login.json()) as { token: string }).token;
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true });
    await t.sendMail({ from: 'x@sender.test', to: 'admin@example.com', subject: 'for admin only', text: 'secret', attachments: [{ filename: 'a.txt', content: 'a' }] });
    adminMessageId = (await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'for admin only'))).id;
  });
  afterAll(async () => {
    await host.destroy();
  });

  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe(code);
    expect(typeof body.error).toBe('string');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+/); // no stack trace
    return body;
  };

  it('setup only works once: 409 AlreadySetUp', async () => {
    await expectError(
      await host.api('/setup', { method: 'POST', body: JSON.stringify({ domain: 'other.com', email: 'a@other.com', password: 'long enough', name: 'A' }) }),
      409,
      'AlreadySetUp',
    );
  });

  it('setup validates its body and names the field', async () => {
    const fresh = await startTestHost({}, { setup: false });
    try {
      const bad = await expectError(await fresh.api('/setup', { method: 'POST', body: JSON.stringify({ domain: 'not a domain', email: 'a@b.com', password: 'long enough', name: 'A' }) }), 400, 'ValidationFailed');
      expect(bad.error).toMatch(/^domain:/);
      const short = await expectError(await fresh.api('/setup', { method: 'POST', body: JSON.stringify({ domain: 'b.com', email: 'a@b.com', password: 'short', name: 'A' }) }), 400, 'ValidationFailed');
      expect(short.error).toMatch(/^password:/);
      const elsewhere = await expectError(await fresh.api('/setup', { method: 'POST', body: JSON.stringify({ domain: 'b.com', email: 'a@c.com', password: 'long enough', name: 'A' }) }), 400, 'ValidationFailed');
      expect(elsewhere.error).toMatch(/^email:/);
      await expectError(await fresh.api('/setup', { method: 'POST', body: '{"domain": ' }), 400, 'MalformedJson');
      expect(await fresh.app.store.countUsers()).toBe(0);
    } finally {
      await fresh.destroy();
    }
  });

  it('login: token, expiry and user (no password hash)', async () => {
    const res = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'Admin@Example.com', password: PASSWORD }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.user).toMatchObject({ email: 'admin@example.com', role: 'admin' });
    expect(JSON.stringify(body)).not.toContain('$2');
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
    expect(jwt.decode(body.token, { complete: true })!.header.alg).toBe('HS256');
  });

  it('wrong password and unknown user: the same 401 InvalidCredentials', async () => {
    const a = await expectError(await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: 'wrong' }) }), 401, 'InvalidCredentials');
    const b = await expectError(await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'ghost@example.com', password: 'wrong' }) }), 401, 'InvalidCredentials');
    expect(a).toEqual(b);
  });

  it('login with malformed JSON or missing fields: 400', async () => {
    await expectError(await host.api('/auth/login', { method: 'POST', body: 'not json' }), 400, 'MalformedJson');
    const body = await expectError(await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'a@b.c' }) }), 400, 'ValidationFailed');
    expect(body.error).toMatch(/^password:/);
  });

  it('bad tokens: missing, tampered, expired, wrong algorithm, alg none, other key, no token id: 401', async () => {
    const secret = readFileSync(join(host.dataDir, 'jwt-secret'), 'utf8').trim();
    const claims = { sub: (await host.app.store.getUserByEmail('admin@example.com'))!.id, email: 'admin@example.com', role: 'admin' };
    const [h, p, s] = host.token.split('.');
    const tampered = [h, Buffer.from(JSON.stringify({ ...claims, role: 'admin', sub: 'someone-else' })).toString('base64url'), s].join('.');
    const expired = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, secret, { algorithm: 'HS256' });
    const hs512 = jwt.sign(claims, secret, { algorithm: 'HS512' });
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`;
    const otherKey = jwt.sign(claims, 'x'.repeat(48), { algorithm: 'HS256' });
    // right key, right user, but no token id (as issued before sign-out existed): it could never be signed out
    const noId = jwt.sign({ ...claims, ver: 0, exp: Math.floor(Date.now() / 1000) + 600 }, secret, { algorithm: 'HS256' });
    const withId = jwt.sign({ ...claims, ver: 0, exp: Math.floor(Date.now() / 1000) + 600 }, secret, { algorithm: 'HS256', jwtid: 'a-token-id' });
    expect((await host.api('/mails', { token: withId })).status).toBe(200); // the same, with an id, is fine
    expect((await host.api('/mails')).status).toBe(401);
    for (const token of [tampered, expired, hs512, none, otherKey, noId, 'garbage']) {
      await expectError(await host.api('/mails', { token }), 401, 'Unauthenticated');
    }
  });

  it('mailboxes: the five default folders with counts', async () => {
    const res = await host.api('/mailboxes', { token: host.token });
    const { items } = (await res.json()) as { items: Array<{ name: string; total: number; unread: number }> };
    expect(items.map((m) => m.name)).toEqual(['Inbox', 'Sent', 'Drafts', 'Junk', 'Trash']);
    expect(items[0].total).toBeGreaterThanOrEqual(1);
    expect(items[0].unread).toBe(items[0].total);
  });

  it("another user's message, raw and attachment are 404, never 403", async () => {
    await expectError(await host.api(`/mails/${adminMessageId}`, { token: bobToken }), 404, 'NotFound');
    await expectError(await host.api(`/mails/${adminMessageId}/raw`, { token: bobToken }), 404, 'NotFound');
    await expectError(await host.api(`/mails/${adminMessageId}/attachments/a1`, { token: bobToken }), 404, 'NotFound');
    expect(await listInbox(host, bobToken)).toEqual([]);
    const otherMailbox = ((await (await host.api('/mailboxes', { token: host.token })).json()) as any).items[0].id;
    await expectError(await host.api(`/mails?mailbox=${otherMailbox}`, { token: bobToken }), 404, 'NotFound');
  });

  it('unknown ids: 404', async () => {
    await expectError(await host.api('/mails/01aaaaaaaaaaaaaaaaaaaaaaaa', { token: host.token }), 404, 'NotFound');
    await expectError(await host.api(`/mails/${adminMessageId}/attachments/a99`, { token: host.token }), 404, 'NotFound');
    await expectError(await host.api('/nope', { token: host.token }), 404, 'NotFound');
  });

  it('list paging: newest first, cursors walk every message once; a bad cursor or limit is 400', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true, pool: true });
    await Promise.all(Array.from({ length: 7 }, (_, i) => t.sendMail({ from: 'p@sender.test', to: 'bob@example.com', subject: `page ${i}`, text: 'x' })));
    t.close();
    await waitFor(async () => ((await listInbox(host, bobToken)).length === 7 ? true : undefined));
    const seen: string[] = [];
    const times: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await host.api(`/mails?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: bobToken });
      const page = (await res.json()) as { items: Array<{ id: string; receivedAt: string }>; nextCursor: string | null };
      seen.push(...page.items.map((i) => i.id));
      times.push(...page.items.map((i) => Date.parse(i.receivedAt)));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(7);
    expect([...times].sort((a, b) => b - a)).toEqual(times); // newest first
    await expectError(await host.api('/mails?cursor=bm90LWEtY3Vyc29y', { token: bobToken }), 400, 'InvalidCursor');
    await expectError(await host.api('/mails?limit=0', { token: bobToken }), 400, 'ValidationFailed');
  });

  it('raw download: message/rfc822 with the exact size', async () => {
    const res = await host.api(`/mails/${adminMessageId}/raw`, { token: host.token });
    expect(res.headers.get('content-type')).toBe('message/rfc822');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    // this host's Authentication-Results (kept beside the blob) comes first and is counted in the length
    expect(bytes.toString()).toMatch(/^Authentication-Results: mx\.test;\r\n[^]*\r\nReceived: from /);
  });

  it('wrong method: 405; oversized JSON body: 413', async () => {
    await expectError(await host.api('/auth/login', { method: 'GET' }), 405, 'MethodNotAllowed');
    await expectError(await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'a', password: 'x'.repeat(2 * 1024 * 1024) }) }), 413, 'PayloadTooLarge');
  });

  it('health: every adapter ready', async () => {
    const res = await host.api('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { store: 'ok', blobs: 'ok', queue: 'ok', outboundQueue: 'ok', outbound: 'none' }, outbound: { transport: 'none', status: 'none', detail: expect.stringContaining('held') } });
  });
});
