import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHost, waitFor, type TestHost } from './helpers';

/** Opens a connection and resolves with its first reply line (the greeting or a refusal). */
function open(port: number, localAddress?: string): Promise<{ socket: Socket; first: string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let buffer = '';
    socket.on('data', (d) => {
      buffer += d.toString();
      const nl = buffer.indexOf('\r\n');
      if (nl >= 0) resolve({ socket, first: buffer.slice(0, nl), closed });
    });
    socket.on('error', reject);
  });
}

describe('SMTP connections per client address', () => {
  let host: TestHost;
  beforeAll(async () => {
    // 127.0.0.1 is not trusted here (loopback is by default), 127.0.0.5 is
    host = await startTestHost({ NIMBUS_SMTP_MAX_CONNECTIONS_PER_IP: '2', NIMBUS_TRUSTED_NETWORKS: '127.0.0.5/32,::1/128' });
  });
  afterAll(async () => {
    await host.destroy();
  });

  it('over the limit: 421 and closed; a slot freed is usable again', async () => {
    const a = await open(host.smtpPort);
    const b = await open(host.smtpPort);
    expect(a.first).toMatch(/^220 /);
    expect(b.first).toMatch(/^220 /);
    const c = await open(host.smtpPort);
    expect(c.first).toMatch(/^421 mx\.test Too many connections/);
    await c.closed; // the server hung up
    a.socket.end('QUIT\r\n');
    await a.closed;
    const d = await waitFor(async () => {
      const attempt = await open(host.smtpPort);
      if (attempt.first.startsWith('220')) return attempt;
      await attempt.closed;
      return undefined;
    });
    expect(d.first).toMatch(/^220 /);
    b.socket.destroy();
    d.socket.destroy();
  });

  it('trusted networks are exempt, as Postfix exempts $mynetworks', async () => {
    const trusted = await Promise.all([1, 2, 3, 4].map(() => open(host.smtpPort, '127.0.0.5')));
    expect(trusted.map((t) => t.first.slice(0, 4))).toEqual(['220 ', '220 ', '220 ', '220 ']);
    for (const t of trusted) t.socket.destroy();
  });
});
