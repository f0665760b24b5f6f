import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHost, waitFor, type TestHost } from './helpers';

/** Opens a connection and resolves with its first reply line (the greeting or a refusal). */
function open(port: number): Promise<{ socket: Socket; first: string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
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
    host = await startTestHost({ NIMBUS_SMTP_MAX_CONNECTIONS_PER_IP: '2' });
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
});
