import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from '../adapters/tls-certificate';

export interface TestTls {
  certFile: string;
  keyFile: string;
  cert: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testTls: TestTls;
  }
}

/**
 * Once per test run: one self-signed certificate for mx.test, as files that every test
 * host offers STARTTLS with (test/helpers.ts: testCertificate), removed when the run ends.
 */
export default async function setup(project: { provide(key: 'testTls', value: TestTls): void }): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-test-tls-'));
  const { key, cert } = await selfSignedCertificate('mx.test');
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key, { mode: 0o600 });
  project.provide('testTls', { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), cert });
  return () => rmSync(dir, { recursive: true, force: true });
}
