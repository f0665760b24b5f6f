import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  /** Where it came from, for the start-up banner. */
  source: 'configured' | 'generated' | 'kept' | 'ephemeral';
  path: string | null;
}

/**
 * Made on a short-lived thread of its own: the selfsigned package's X.509 libraries are
 * some 600 modules (about 25 MB of the heap) that a running server never needs again,
 * and a thread's modules go when it ends.
 */
const GENERATE = `
const { parentPort, workerData } = require('node:worker_threads');
require(workerData.module)
  .generate([{ name: 'commonName', value: workerData.hostname }], workerData.options)
  .then((pems) => parentPort.postMessage({ key: pems.private, cert: pems.cert }));
`;

/** A self-signed certificate for `hostname` (RSA 2048, SHA-256, 10 years), made with the selfsigned package (WebCrypto; no openssl binary). */
export function selfSignedCertificate(hostname: string): Promise<{ key: string; cert: string }> {
  const options = {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 10 * 365 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  };
  return new Promise((resolve, reject) => {
    const thread = new Worker(GENERATE, { eval: true, workerData: { module: require.resolve('selfsigned'), hostname, options } });
    thread.once('message', resolve);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`certificate thread exited (${code}) without a certificate`)));
  });
}

/**
 * The certificate the SMTP listeners offer: NIMBUS_TLS_CERT_FILE/NIMBUS_TLS_KEY_FILE
 * when set; else (local mode) a self-signed pair for the host name kept in
 * `<data>/tls/`, made on the first start; else (no data folder: the Azure edge) one
 * made in memory for this process.
 */
export async function loadTlsMaterial(opts: { certFile?: string; keyFile?: string; dataDir: string | null; hostname: string }): Promise<TlsMaterial> {
  if (opts.certFile && opts.keyFile) {
    return { cert: readFileSync(opts.certFile), key: readFileSync(opts.keyFile), source: 'configured', path: opts.certFile };
  }
  if (!opts.dataDir) {
    const made = await selfSignedCertificate(opts.hostname);
    return { key: Buffer.from(made.key), cert: Buffer.from(made.cert), source: 'ephemeral', path: null };
  }
  const dir = join(opts.dataDir, 'tls');
  const certPath = join(dir, 'self-signed-cert.pem');
  const keyPath = join(dir, 'self-signed-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) return { cert: readFileSync(certPath), key: readFileSync(keyPath), source: 'kept', path: certPath };
  const made = await selfSignedCertificate(opts.hostname);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyPath, made.key, { mode: 0o600 });
  writeFileSync(certPath, made.cert, { mode: 0o644 });
  return { cert: Buffer.from(made.cert), key: Buffer.from(made.key), source: 'generated', path: certPath };
}
