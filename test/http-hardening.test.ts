import { connect } from 'node:net';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../core/logger';
import { PASSWORD, startTestHost, type TestHost } from './helpers';

/** Log lines the host wrote, parsed. */
function logCapture() {
  const lines: Array<Record<string, any>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { lines, logger: createLogger('info', 'test', stream) };
}

/** Raw HTTP over a socket: what the server answers and when, byte for byte. */
function rawHttp(port: number, head: string, opts: { body?: () => AsyncIterable<Buffer>; timeoutMs?: number } = {}): Promise<{ response: string; closed: boolean; sentBytes: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    let sentBytes = 0;
    let closed = false;
    const timer = setTimeout(() => finish(), opts.timeoutMs ?? 10_000);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, closed, sentBytes });
    };
    socket.on('data', (d) => (response += d.toString('latin1')));
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => undefined);
    socket.write(head, async () => {
      if (!opts.body) return;
      for await (const chunk of opts.body()) {
        if (socket.destroyed || response) break;
        sentBytes += chunk.length;
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
    });
  });
}

describe('HTTP host hardening', () => {
  let host: TestHost;
  const log = logCapture();
  beforeAll(async () => {
    host = await startTestHost({ NIMBUS_HTTP_HEADERS_TIMEOUT_MS: '1500', NIMBUS_HTTP_REQUEST_TIMEOUT_MS: '3000' }, { logger: log.logger });
  });
  afterAll(async () => host?.destroy());

  it('a 20 MB upload without a token is refused from its headers: 401, the body is never read', async () => {
    const twentyMb = 20 * 1024 * 1024;
    const rssBefore = process.memoryUsage().rss;
    const head = `POST /api/mails/x/attachments HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${twentyMb}\r\n\r\n`;
    const result = await rawHttp(host.httpPort, head, {
      async *body() {
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        for (let sent = 0; sent < twentyMb; sent += chunk.length) yield chunk;
      },
    });
    expect(result.response).toMatch(/^HTTP\/1\.1 401 /);
    expect(result.response).toMatch(/connection: close/i);
    expect(result.response).toContain('"code":"Unauthenticated"');
    expect(result.sentBytes).toBeLessThan(twentyMb); // answered (and closed) long before the upload could finish
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(20 * 1024 * 1024);
  });

  it('a body announced over the limit is refused with 413 before it is read', async () => {
    const head = `POST /api/mails HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${host.token}\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`;
    const result = await rawHttp(host.httpPort, head, { body: async function* () { yield Buffer.from('{"to":[]'); } });
    expect(result.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(result.response).toContain('"code":"PayloadTooLarge"');
  });

  it('a body over the limit without a Content-Length is cut off while streaming (413)', async () => {
    const head = `POST /api/mails HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${host.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const result = await rawHttp(host.httpPort, head, {
      async *body() {
        const piece = Buffer.alloc(256 * 1024, 0x20);
        for (let i = 0; i < 40; i++) yield Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')]);
      },
    });
    expect(result.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(result.sentBytes).toBeLessThan(40 * 256 * 1024);
  });

  it('a client that sends its headers slowly is cut off', async () => {
    const started = Date.now();
    const socket = connect(host.httpPort, '127.0.0.1');
    const closed = new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d) => (got += d));
      socket.on('close', () => resolve(got));
      socket.on('error', () => undefined);
    });
    socket.write('GET /api/health HTTP/1.1\r\nHost: t\r\n');
    // one header line per 300 ms, never the blank line that ends them
    const drip = setInterval(() => socket.writable && socket.write(`X-Slow-${Date.now()}: 1\r\n`), 300);
    const got = await closed;
    clearInterval(drip);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(8_000); // the headers timeout is 1.5 s, checked every second
    expect(got === '' || /^HTTP\/1\.1 408 /.test(got)).toBe(true);
  });

  it('every API answer carries nosniff, no-store and no-referrer, errors and downloads included', async () => {
    for (const res of [await host.api('/health'), await host.api('/mails', { token: host.token }), await host.api('/mails'), await host.api('/nowhere'), await host.api('/auth/login', { method: 'DELETE' })]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('one access line per request (method, route, status, time, user, client address) and an audit line per security event; never a token or password', async () => {
    const before = log.lines.length;
    expect((await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: 'wrong password' }) })).status).toBe(401);
    expect((await host.api('/auth/me', { token: host.token })).status).toBe(200);
    const fresh = log.lines.slice(before);
    const access = fresh.filter((l) => l.access);
    expect(access).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ method: 'POST', route: 'auth-login', status: 401, userId: null, ip: '127.0.0.1', ms: expect.any(Number) }),
        expect.objectContaining({ method: 'GET', route: 'auth-me', status: 200, userId: expect.any(String), ip: '127.0.0.1' }),
      ]),
    );
    expect(fresh.filter((l) => l.audit === 'login.failed')).toEqual([expect.objectContaining({ account: 'admin@example.com', ip: '127.0.0.1' })]);
    const text = JSON.stringify(fresh);
    expect(text).not.toContain(host.token);
    expect(text).not.toContain('wrong password');
  });
});

describe('first-run setup is not open to the world', () => {
  let host: TestHost;
  const body = { domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin' };
  beforeAll(async () => {
    // behind a trusted proxy on loopback, so a test can be "a client elsewhere"
    host = await startTestHost({ NIMBUS_TRUSTED_PROXIES: '127.0.0.1' }, { setup: false });
  });
  afterAll(async () => host?.destroy());
  const setupFrom = (forwardedFor: string | null, extra: Record<string, unknown> = {}) =>
    host.api('/setup', { method: 'POST', headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}, body: JSON.stringify({ ...body, ...extra }) });

  it('refused from another address without the code, and with a wrong one (403 SetupNotAllowed)', async () => {
    const res = await setupFrom('203.0.113.9');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'SetupNotAllowed' });
    expect((await setupFrom('203.0.113.9', { setupCode: 'not-the-code' })).status).toBe(403);
    // a request that came through a proxy is not "this machine", even when the proxy says so, or says nothing
    expect((await setupFrom('127.0.0.1, 10.1.2.3')).status).toBe(403);
    expect((await setupFrom(null)).status).toBe(403);
    expect(await host.app.store.countUsers()).toBe(0);
  });

  it('accepted from elsewhere with the one-time code; the code then stops working', async () => {
    const code = host.app.setup.code!;
    expect(code).toMatch(/^[\w-]{12,}$/);
    const res = await setupFrom('203.0.113.9', { setupCode: code });
    expect(res.status).toBe(201);
    expect(host.app.setup.code).toBeNull();
    expect((await setupFrom('203.0.113.9', { setupCode: code })).status).toBe(403);
  });

  it('once done, setup answers 409 to whoever may run it', async () => {
    // from elsewhere, with no code left to give, it is still not setup's to say: 403, whatever is sent
    expect((await setupFrom('203.0.113.9', { setupCode: 'x'.repeat(12) })).status).toBe(403);
    // a host without a proxy in front: this machine may ask, and is told it is done
    const plain = await startTestHost();
    try {
      const again = await plain.api('/setup', { method: 'POST', body: JSON.stringify(body) });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ code: 'AlreadySetUp' });
    } finally {
      await plain.destroy();
    }
  });
});

describe('the last admin', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(async () => host?.destroy());

  it('two admins deleting each other at once: one succeeds, the other gets 409 LastAdmin', async () => {
    const created = await host.api('/auth/register', { method: 'POST', token: host.token, body: JSON.stringify({ email: 'second@example.com', password: PASSWORD, name: 'Second', role: 'admin' }) });
    expect(created.status).toBe(201);
    const second = (await created.json()) as { id: string };
    const secondToken = ((await (await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'second@example.com', password: PASSWORD }) })).json()) as { token: string }).token;
    const firstId = ((await (await host.api('/auth/me', { token: host.token })).json()) as { id: string }).id;
    const [a, b] = await Promise.all([
      host.api(`/users/${second.id}`, { method: 'DELETE', token: host.token }),
      host.api(`/users/${firstId}`, { method: 'DELETE', token: secondToken }),
    ]);
    const outcomes = await Promise.all([a, b].map(async (r) => (r.status === 204 ? 204 : `${r.status} ${((await r.json()) as { code: string }).code}`)));
    // the loser is refused by the store (409), or, if the winner deleted it first, by its own vanished token (401)
    expect(outcomes.filter((o) => o === 204)).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 204)[0]).toMatch(/^(409 LastAdmin|401 Unauthenticated)$/);
    const users = (await host.app.store.listUsers()).filter((u) => u.role === 'admin');
    expect(users).toHaveLength(1);
  });
});

describe('a role taken away is gone at once', () => {
  it('the admin role is read from the user record, not from the token', async () => {
    const host = await startTestHost();
    try {
      // a token minted as admin for a user whose record says "user"
      const user = await host.app.store.createUser({ email: 'plain@example.com', name: 'Plain', passwordHash: 'x', role: 'user' });
      const forged = host.app.tokens.issue({ ...user, role: 'admin' }, 0).token;
      const res = await host.api('/users', { token: forged });
      expect(res.status).toBe(403);
      const ok = await new Promise<number>((resolve) => request({ host: '127.0.0.1', port: host.httpPort, path: '/api/auth/me', headers: { authorization: `Bearer ${forged}` } }, (r) => resolve(r.statusCode!)).end());
      expect(ok).toBe(200);
    } finally {
      await host.destroy();
    }
  });
});
