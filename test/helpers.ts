import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../core/config';
import pino from 'pino';
import { TableResolver } from '../adapters/dns/table-resolver';
import { createLogger, type Logger } from '../core/logger';
import type { DnsResolver } from '../core/ports';
import { startLocalHost, type LocalHost } from '../local/host';
import type { SmtpEdgeOptions } from '../smtp-edge/server';
import { inject } from 'vitest';
import type { TestTls } from './global-setup';

export { waitFor } from './wait';

export const PASSWORD = 'correct horse battery';

export interface TestHost extends LocalHost {
  dataDir: string;
  api(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  token: string;
  destroy(): Promise<void>;
}

/**
 * The run's self-signed certificate for mx.test, as files (NIMBUS_TLS_CERT_FILE /
 * NIMBUS_TLS_KEY_FILE; made and removed by test/global-setup.ts): every test host offers
 * STARTTLS with it, and clients that check certificates trust it with `ca`. (A host without
 * these settings makes its own on first start.)
 */
export async function testCertificate(): Promise<TestTls> {
  return inject('testTls');
}

/** A local host on loopback, ports chosen by the OS, data in a fresh temp folder, set up with admin@example.com. */
/**
 * Tests never ask the internet's DNS: unless a test gives its own resolver, the host
 * gets an empty table (every name NXDOMAIN), so SPF/DMARC say `none` at once.
 */
export async function startTestHost(env: Record<string, string> = {}, opts: { dataDir?: string; setup?: boolean; resolver?: DnsResolver; logger?: Logger; now?: () => number; scheduler?: boolean | number; edge?: Partial<SmtpEdgeOptions> } = {}): Promise<TestHost> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'nimbus-test-'));
  const tls = await testCertificate();
  const config: Config = loadConfig({
    NIMBUS_DATA_DIR: dataDir,
    NIMBUS_SMTP_PORT: '0',
    NIMBUS_SUBMISSION_PORT: '0',
    NIMBUS_SUBMISSION_TLS_PORT: '0',
    NIMBUS_TLS_CERT_FILE: tls.certFile,
    NIMBUS_TLS_KEY_FILE: tls.keyFile,
    NIMBUS_HTTP_PORT: '0',
    NIMBUS_HOSTNAME: 'mx.test',
    NIMBUS_LOG_LEVEL: 'silent',
    ...env,
  });
  const host = await startLocalHost(config, { logger: opts.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), resolver: opts.resolver ?? new TableResolver({}), now: opts.now, scheduler: opts.scheduler, edge: opts.edge });
  const api = (path: string, init: RequestInit & { token?: string } = {}) => {
    const headers = new Headers(init.headers);
    if (init.token) headers.set('authorization', `Bearer ${init.token}`);
    if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(`http://127.0.0.1:${host.httpPort}/api${path}`, { ...init, headers });
  };
  let token = '';
  if (opts.setup !== false && (await host.app.store.countUsers()) === 0) {
    const res = await api('/setup', { method: 'POST', body: JSON.stringify({ domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin' }) });
    if (res.status !== 201) throw new Error(`setup failed: ${res.status} ${await res.text()}`);
    token = ((await res.json()) as { token: string }).token;
  } else if (opts.setup !== false) {
    const res = await api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: PASSWORD }) });
    token = ((await res.json()) as { token: string }).token;
  }
  return {
    ...host,
    dataDir,
    api,
    token,
    async destroy() {
      await host.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ListItem {
  id: string;
  subject: string;
  from: { address: string; name: string } | null;
  to: Array<{ address: string; name: string }>;
  hasAttachments: boolean;
  snippet: string;
  seen: boolean;
}

export async function listInbox(host: TestHost, token = host.token): Promise<ListItem[]> {
  const items: ListItem[] = [];
  let cursor: string | null = null;
  do {
    const res = await host.api(`/mails?limit=200${cursor ? `&cursor=${cursor}` : ''}`, { token });
    if (res.status !== 200) throw new Error(`list failed: ${res.status}`);
    const page = (await res.json()) as { items: ListItem[]; nextCursor: string | null };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/**
 * A bare SMTP client over a real socket, for the cases real clients refuse to produce
 * (bare LF, smuggling attempts, exact bytes). Sends `script` as-is and returns every
 * reply line the server wrote until it closes or `untilReplies` replies have arrived.
 */
export function rawSmtp(port: number, script: Array<string | Buffer>, untilReplies: number, timeoutMs = 10_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    const replies: string[] = [];
    let step = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(replies);
    }, timeoutMs);
    socket.on('data', (data) => {
      buffer += data.toString('latin1');
      let nl: number;
      while ((nl = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (/^\d{3}-/.test(line)) continue;
        replies.push(line);
        // lockstep: each final reply (the greeting first) releases the next piece of the script
        if (step < script.length) socket.write(script[step++]);
        if (replies.length >= untilReplies) {
          clearTimeout(timer);
          socket.end();
          resolve(replies);
        }
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(replies);
    });
  });
}

export function cleanupDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A logger whose JSON lines land in `lines` (parsed), for tests of what gets logged. */
export function captureLogger(level = 'info'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/**
 * A stored message as the raw route serves it starts with this host's
 * Authentication-Results header (inbound mail from outside), then the Received
 * header, then the message as sent. Splits off the first.
 */
export function splitAuthResults(raw: Buffer): { authResults: string | null; rest: Buffer } {
  const match = /^Authentication-Results: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(raw.subarray(0, 64 * 1024).toString('latin1'));
  return match ? { authResults: match[0], rest: raw.subarray(match[0].length) } : { authResults: null, rest: raw };
}
