import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestHost, type TestHost } from './helpers';

/**
 * Connects (over implicit TLS with `tls`; the test certificate is not checked, only the
 * timing matters here), optionally talks at once, and resolves with the first reply line
 * and when it came.
 */
function firstLine(port: number, talkAtOnce: boolean, tls = false): Promise<{ line: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const talk = () => {
      if (talkAtOnce) socket.write('EHLO early.test\r\n');
    };
    const socket = tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, talk) : connect(port, '127.0.0.1', talk);
    let buffer = '';
    socket.on('data', (d) => {
      buffer += d.toString();
      const nl = buffer.indexOf('\r\n');
      if (nl >= 0) {
        resolve({ line: buffer.slice(0, nl), ms: Date.now() - t0 });
        socket.destroy();
      }
    });
    socket.on('error', reject);
  });
}

describe('the pause before the SMTP greeting (early-talker detection)', () => {
  const hosts: TestHost[] = [];
  afterAll(async () => Promise.all(hosts.map((h) => h.destroy())));

  it('by default a client that talks before the greeting is refused: 421 You talk too soon', async () => {
    const host = await startTestHost();
    hosts.push(host);
    expect((await firstLine(host.smtpPort, false)).line).toMatch(/^220 /);
    expect((await firstLine(host.smtpPort, true)).line).toMatch(/^421 .*You talk too soon/);
  });

  it('the pause is a setting: a longer one holds the greeting back at least that long, and still catches early talkers', async () => {
    const slow = await startTestHost({ NIMBUS_SMTP_GREETING_DELAY_MS: '400' });
    hosts.push(slow);
    const held = await firstLine(slow.smtpPort, false);
    expect(held.line).toMatch(/^220 /);
    expect(held.ms).toBeGreaterThanOrEqual(390);
    expect((await firstLine(slow.smtpPort, true)).line).toMatch(/^421 .*You talk too soon/);
  });

  it('the submission listeners greet at once, whatever the pause: nothing is taken there before AUTH', async () => {
    const host = await startTestHost({ NIMBUS_SMTP_GREETING_DELAY_MS: '5000' });
    hosts.push(host);
    for (const port of [host.ports.submission, host.ports.submissionTls]) {
      const greeting = await firstLine(port, false, port === host.ports.submissionTls);
      expect(greeting.line).toMatch(/^220 /);
      expect(greeting.ms).toBeLessThan(4000);
    }
    // a client that talks at once (on the TLS listener, at once after the handshake) is answered, not refused
    expect((await firstLine(host.ports.submission, true)).line).toMatch(/^220 /);
    expect((await firstLine(host.ports.submissionTls, true, true)).line).toMatch(/^220 /);
    // the MX listener still catches early talkers
    expect((await firstLine(host.smtpPort, true)).line).toMatch(/^421 .*You talk too soon/);
  });
});
