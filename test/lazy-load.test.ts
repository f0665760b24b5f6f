import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackDnsServer, type LoopbackDnsServer } from '../adapters/dns/loopback-dns-server';
import { startServerProcess, stopServerProcess, type ServerProcess } from '../bench/server-process';
import { makeMessage, runLoad } from '../bench/smtp-load';
import { PASSWORD, waitFor } from './helpers';

/**
 * The libraries the main thread loads only when a request needs them (core/lazy). The
 * server is the built one in its own process, as `npm start` runs it, with a preloaded
 * script that writes the package files its main thread has loaded whenever it gets SIGUSR2.
 */
const LAZY: Record<string, RegExp> = {
  mailauth: /^mailauth\//,
  mailparser: /^mailparser\//,
  'nodemailer mail-composer': /^nodemailer\/.*\/mail-composer\//,
  'nodemailer smtp-connection': /^nodemailer\/.*\/smtp-connection\//,
  '@azure/functions': /^@azure\/functions\//,
};

const REPORTER = `
const { isMainThread } = require('node:worker_threads');
if (isMainThread) process.on('SIGUSR2', () => {
  const loaded = Object.keys(require.cache).filter((file) => file.includes('/node_modules/')).map((file) => file.slice(file.lastIndexOf('/node_modules/') + 14));
  const fs = require('node:fs');
  fs.writeFileSync(process.env.REPORT_FILE + '.tmp', JSON.stringify(loaded));
  fs.renameSync(process.env.REPORT_FILE + '.tmp', process.env.REPORT_FILE);
});
`;

describe('the main thread loads the MIME, DKIM and outbound libraries only when first used', () => {
  let server: ServerProcess;
  let dns: LoopbackDnsServer;
  let token: string;
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-lazy-'));
  const reportFile = join(dir, 'loaded.json');
  const api = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${server.httpPort}/api${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });

  /** Which of LAZY the server's main thread has loaded now, and the package files it has loaded. */
  async function lazyLoaded(): Promise<{ names: string[]; files: string[] }> {
    rmSync(reportFile, { force: true });
    server.child.kill('SIGUSR2');
    const loaded = await waitFor(async () => {
      try {
        return JSON.parse(readFileSync(reportFile, 'utf8')) as string[];
      } catch {
        return undefined;
      }
    }, 10_000);
    expect(loaded.some((file) => file.startsWith('smtp-server/')), 'the report lists what the main thread loaded').toBe(true);
    return { names: Object.keys(LAZY).filter((name) => loaded.some((file) => LAZY[name].test(file))), files: loaded };
  }

  beforeAll(async () => {
    writeFileSync(join(dir, 'reporter.js'), REPORTER);
    // the domain has one SPF record and the mail host (mx.bench) an address: a domain check evaluates SPF
    dns = await startLoopbackDnsServer({ 'example.com': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] }, 'mx.bench': { A: ['127.0.0.1'] } });
    server = await startServerProcess(join(__dirname, '..', 'dist', 'local', 'main.js'), { dataDir: true, http: true, nodeArgs: ['-r', join(dir, 'reporter.js')], env: { REPORT_FILE: reportFile, NIMBUS_DNS_SERVERS: dns.address } });
    const setup = await fetch(`http://127.0.0.1:${server.httpPort}/api/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin' }) });
    token = ((await setup.json()) as { token: string }).token;
  }, 60_000);
  afterAll(async () => {
    if (server) await stopServerProcess(server);
    await dns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('receiving and listing mail loads none of them (the analysis thread parses and authenticates); a domain check loads mailauth\'s SPF part only; reading a message loads mailparser', async () => {
    const load = await runLoad({ port: server.smtpPort, total: 3, concurrency: 3, perConnection: 1, message: makeMessage(4096, 'lazy'), rcpt: 'admin@example.com' });
    expect(load.failures, load.firstError).toBe(0);
    const items = await waitFor(async () => {
      const list = (await (await api('/mails')).json()) as { items: Array<{ id: string; subject: string }> };
      return list.items.length === 3 ? list.items : undefined;
    }, 30_000);
    expect(items.map((m) => m.subject)).toEqual(['lazy', 'lazy', 'lazy']);
    expect((await lazyLoaded()).names).toEqual([]);

    expect((await api('/domains/example.com/verify', { method: 'POST' })).status).toBe(200);
    const checked = await lazyLoaded();
    expect(checked.names).toEqual(['mailauth']);
    expect(checked.files.filter((file) => /^mailauth\/lib\/spf\//.test(file)).length).toBeGreaterThan(0);
    expect(checked.files.filter((file) => /^mailauth\/lib\/(dkim|arc|dmarc)\//.test(file))).toEqual([]);

    const view = await api(`/mails/${items[0].id}`);
    expect(view.status).toBe(200);
    expect((await lazyLoaded()).names).toEqual(['mailauth', 'mailparser']);
  }, 60_000);
});
