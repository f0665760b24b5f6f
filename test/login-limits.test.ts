import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startTestHost, type TestHost } from './helpers';

/** A login from a chosen loopback address (127.0.0.x): the server sees a different client address. */
function loginFrom(host: TestHost, localAddress: string, email: string, password: string, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter: string | undefined; body: any }> {
  const body = JSON.stringify({ email, password });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: host.httpPort, path: '/api/auth/login', method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('login rate limits', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost({ NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: '3', NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT: '8', NIMBUS_LOGIN_MAX_FAILURES_PER_IP: '6' });
    for (const email of ['owner@example.com', 'other@example.com', 'parallel@example.com']) {
      const res = await host.api('/auth/register', { method: 'POST', token: host.token, body: JSON.stringify({ email, password: PASSWORD, name: email }) });
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await host.destroy();
  });

  it('repeated failures from one address get 429 with Retry-After, even with the right password; the owner elsewhere still gets in', async () => {
    for (let i = 0; i < 3; i++) expect((await loginFrom(host, '127.0.0.2', 'owner@example.com', 'wrong')).status).toBe(401);
    const blocked = await loginFrom(host, '127.0.0.2', 'owner@example.com', PASSWORD);
    expect(blocked.status).toBe(429);
    const retryAfter = Number(blocked.retryAfter);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(blocked.body).toMatchObject({ code: 'RateLimited', retryAfterSeconds: retryAfter });
    // the tight limit is per (account, address): the attacker did not lock the owner out of their usual address
    expect((await loginFrom(host, '127.0.0.3', 'owner@example.com', PASSWORD)).status).toBe(200);
  });

  it('the looser per-account limit caps guesses spread over many addresses', async () => {
    // 8 failures in all, from 4 addresses (2 each: under the per-address limits)
    for (let i = 0; i < 8; i++) expect((await loginFrom(host, `127.0.1.${10 + (i % 4)}`, 'other@example.com', 'wrong')).status).toBe(401);
    expect((await loginFrom(host, '127.0.1.99', 'other@example.com', 'wrong')).status).toBe(429);
  });

  it('repeated failures from one address across accounts get 429; a forged X-Forwarded-For does not help', async () => {
    for (let i = 0; i < 6; i++) expect((await loginFrom(host, '127.0.2.1', `nobody${i}@example.com`, 'wrong', { 'x-forwarded-for': `203.0.113.${i}` })).status).toBe(401);
    const blocked = await loginFrom(host, '127.0.2.1', 'someone-else@example.com', 'wrong', { 'x-forwarded-for': '198.51.100.7' });
    expect(blocked.status).toBe(429);
    expect(blocked.retryAfter).toMatch(/^\d+$/);
  });

  it('100 wrong guesses sent at once: at most the limit are checked (401), the rest get 429', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => loginFrom(host, '127.0.3.1', 'parallel@example.com', 'wrong')));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(97);
  });

  it('a wrong current password on a password change counts toward the same limit', async () => {
    const login = await loginFrom(host, '127.0.4.1', 'parallel@example.com', PASSWORD);
    expect(login.status).toBe(200);
    const change = (current: string) =>
      host.api('/auth/password', { method: 'POST', token: login.body.token, body: JSON.stringify({ currentPassword: current, newPassword: 'a brand new password' }) });
    // the test client speaks from 127.0.0.1: 3 wrong tries there, then even the right one is refused
    const statuses = await Promise.all(Array.from({ length: 10 }, () => change('wrong')).map(async (p) => (await p).status));
    expect(statuses.filter((s) => s === 403)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    expect((await change(PASSWORD)).status).toBe(429);
  });
});
