import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PasswordPool } from '../adapters/password-pool';
import type { VerifiedPasswordCache } from '../core/auth';
import { PASSWORD, listInbox, startTestHost, waitFor, type TestHost } from './helpers';

describe('worker threads that die are replaced; health tells in between', () => {
  let host: TestHost;
  beforeAll(async () => {
    // every login reaches the password threads: none is answered from the verified-password cache
    host = await startTestHost({ NIMBUS_PASSWORD_CACHE_SECONDS: '0' });
  });
  afterAll(async () => host?.destroy());

  it('a killed database writer thread: health says degraded, then a new writer takes over and mail flows again', async () => {
    expect((await host.api('/health')).status).toBe(200);
    await host.db.killWriter();
    // in between: the write path is down and health says so (the store check fails)
    const down = await host.api('/health');
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'degraded', checks: { store: 'unavailable' } });
    // then a fresh writer thread
    await waitFor(async () => ((await host.api('/health')).status === 200 ? true : undefined), 10_000);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ from: 'a@sender.test', to: 'admin@example.com', subject: 'after the writer came back', text: 'still here' });
    expect(info.response).toMatch(/^250 /);
    await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'after the writer came back'));
  });

  it('killed password threads: a login in flight gets 503 (not a hang), the next login works', async () => {
    const login = () => host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: PASSWORD }) });
    expect((await login()).status).toBe(200);
    const inFlight = login();
    await new Promise((r) => setTimeout(r, 20)); // the request has reached a thread (bcrypt takes ~70 ms)
    await ((host.app.passwords as VerifiedPasswordCache).inner as PasswordPool).killThreads();
    const answered = await inFlight;
    expect([200, 503]).toContain(answered.status);
    if (answered.status === 503) expect(await answered.json()).toMatchObject({ code: 'TemporaryFailure' });
    expect((await login()).status).toBe(200);
  });
});
