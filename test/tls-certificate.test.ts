import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The first local start without NIMBUS_TLS_CERT_FILE/KEY_FILE: `npm start`'s entry (the
 * built dist/local/main.js, as a process) makes a self-signed certificate for the host
 * name in the data folder, says so in its banner, and offers it on implicit TLS; the
 * next start keeps the same one.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-tls-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function start(): Promise<{ banner: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'local', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', NIMBUS_DATA_DIR: dataDir, NIMBUS_HOSTNAME: 'mail.example.test', NIMBUS_SMTP_PORT: '0', NIMBUS_SUBMISSION_PORT: '0', NIMBUS_SUBMISSION_TLS_PORT: '0', NIMBUS_HTTP_PORT: '0', NIMBUS_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let banner = '';
  child.stdout!.on('data', (d) => (banner += d));
  child.stderr!.on('data', (d) => (banner += d));
  const until = Date.now() + 30_000;
  while (!/Outbound/.test(banner)) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`did not start: ${banner}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    banner,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

function peerCertificate(port: number): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'mail.example.test' }, () => {
      resolve(socket.getPeerCertificate());
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('the certificate on the first local start', () => {
  it('is made for the host name in the data folder, announced, served; a restart keeps it', async () => {
    const first = await start();
    let fingerprint: string;
    try {
      const certFile = join(dataDir, 'tls', 'self-signed-cert.pem');
      expect(first.banner).toContain(`TLS   self-signed certificate generated now in ${certFile}`);
      expect(first.banner).toMatch(/Submission {2}127\.0\.0\.1:\d+ \(STARTTLS\), 127\.0\.0\.1:\d+ \(TLS\)/);
      expect(existsSync(join(dataDir, 'tls', 'self-signed-key.pem'))).toBe(true);
      const x509 = new X509Certificate(readFileSync(certFile));
      expect(x509.subject).toContain('CN=mail.example.test');
      expect(x509.subjectAltName).toContain('DNS:mail.example.test');
      fingerprint = x509.fingerprint256;
      const tlsPort = Number(/\(STARTTLS\), 127\.0\.0\.1:(\d+) \(TLS\)/.exec(first.banner)![1]);
      const served = await peerCertificate(tlsPort);
      expect(served.fingerprint256).toBe(fingerprint);
      // STARTTLS is offered on the MX port too
      const mxPort = Number(/SMTP {2}127\.0\.0\.1:(\d+)/.exec(first.banner)![1]);
      const ehlo = await new Promise<string>((resolve, reject) => {
        let text = '';
        const s = netConnect(mxPort, '127.0.0.1');
        s.on('data', (d) => {
          text += d;
          if (text.startsWith('220') && !text.includes('EHLO')) s.write('EHLO t\r\n'), (text += 'EHLO');
          else if (/\r\n250 [^\r\n]*\r\n$/.test(text)) s.end('QUIT\r\n'), resolve(text);
        });
        s.on('error', reject);
      });
      expect(ehlo).toContain('STARTTLS');
    } finally {
      await first.stop();
    }
    const second = await start();
    try {
      expect(second.banner).toContain('self-signed certificate made on the first start');
      expect(new X509Certificate(readFileSync(join(dataDir, 'tls', 'self-signed-cert.pem'))).fingerprint256).toBe(fingerprint);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
