import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startTestHost, type TestHost } from './helpers';

describe('login rate limits', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost({ NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', NIMBUS_LOGIN_MAX_FAILURES_PER_IP: '6' });
  });
  afterAll(async () => {
    await host.destroy();
  });
  const login = (email: string, password: string, headers: Record<string, string> = {}) =>
    host.api('/auth/login', { method: 'POST', headers, body: JSON.stringify({ email, password }) });

  it('repeated failures for one account get 429 with Retry-After, even with the right password then', async () => {
    for (let i = 0; i < 3; i++) expect((await login('admin@example.com', 'wrong')).status).toBe(401);
    const blocked = await login('admin@example.com', PASSWORD);
    expect(blocked.status).toBe(429);
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(await blocked.json()).toMatchObject({ code: 'RateLimited', retryAfterSeconds: retryAfter });
  });

  it('repeated failures from one address across accounts get 429; a forged X-Forwarded-For does not help', async () => {
    for (let i = 0; i < 3; i++) expect((await login(`nobody${i}@example.com`, 'wrong', { 'x-forwarded-for': `203.0.113.${i}` })).status).toBe(401);
    const blocked = await login('someone-else@example.com', 'wrong', { 'x-forwarded-for': '198.51.100.7' });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});
