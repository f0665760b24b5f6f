import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApi } from '../functions/openapi';
import { routes } from '../functions/http/routes';
import { createStaticSite, defaultWebmailDir } from '../local/static-files';
import { apiJson } from './browser';
import { cleanupDir, startTestHost, type TestHost } from './helpers';

/** A GET with the exact path given (fetch would normalise "..") and the answer's headers and body. */
function rawGet(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function expectSecurityHeaders(headers: Record<string, string | string[] | undefined>): void {
  const csp = String(headers['content-security-policy']);
  for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) expect(csp).toContain(directive);
  expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('no-referrer');
}

describe('the local host serves the built webmail at /', () => {
  let host: TestHost;
  let index: string;
  let script: string;
  beforeAll(async () => {
    host = await startTestHost();
    index = readFileSync(join(defaultWebmailDir(), 'index.html'), 'utf8');
    script = /src="(\/assets\/[^"]+\.js)"/.exec(index)![1];
  });
  afterAll(async () => {
    await host.destroy();
  });

  it('the app at /, and at every deep link, as HTML with the security headers, never cached', async () => {
    for (const path of ['/', '/mail/inbox', '/mail/inbox/01abc', '/admin/users', '/settings?x=1', '/some/unknown/path']) {
      const res = await rawGet(host.httpPort, path);
      expect([path, res.status, res.headers['content-type']]).toEqual([path, 200, 'text/html; charset=utf-8']);
      expect(res.body).toBe(index);
      expect(res.headers['cache-control']).toBe('no-cache');
      expectSecurityHeaders(res.headers);
    }
  });

  it('hashed assets: the right type, cached for a year, gzip when asked, 304 on a matching ETag; a missing asset is a 404, not the app', async () => {
    const js = await rawGet(host.httpPort, script);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expectSecurityHeaders(js.headers);
    const gz = await rawGet(host.httpPort, script, { 'accept-encoding': 'gzip, br' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(Number(gz.headers['content-length'])).toBeLessThan(Number(js.headers['content-length']));
    const again = await rawGet(host.httpPort, script, { 'if-none-match': String(js.headers.etag) });
    expect([again.status, again.body]).toEqual([304, '']);
    const css = /href="(\/assets\/[^"]+\.css)"/.exec(index)![1];
    expect((await rawGet(host.httpPort, css)).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await rawGet(host.httpPort, '/favicon.svg')).headers['content-type']).toBe('image/svg+xml');
    const missing = await rawGet(host.httpPort, '/assets/index-missing.js');
    expect([missing.status, missing.headers['content-type']]).toEqual([404, 'text/plain; charset=utf-8']);
    expect((await rawGet(host.httpPort, '/', {}, 'HEAD')).body).toBe('');
  });

  it("the API's answers to the app carry a policy that runs nothing, nosniff and no-referrer (JSON, errors and downloads)", async () => {
    const { id } = await apiJson(host, '/mails', { method: 'POST', token: host.token, body: JSON.stringify({ subject: 'headers' }) });
    for (const path of ['/api/mails', `/api/mails/${id}`, `/api/mails/${id}/raw`, '/api/openapi.json', '/api/nowhere']) {
      const res = await rawGet(host.httpPort, path, { authorization: `Bearer ${host.token}` });
      expect([path, res.headers['content-security-policy']]).toEqual([path, "default-src 'none'; frame-ancestors 'none'; sandbox"]);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    }
  });

  it('the API keeps answering only under /api (JSON errors, never the app)', async () => {
    for (const path of ['/api', '/api/', '/api/no-such-route', '/api/mail/inbox']) {
      const res = await rawGet(host.httpPort, path);
      expect([path, res.status, JSON.parse(res.body)]).toEqual([path, 404, { error: 'Not found', code: 'NotFound' }]);
    }
    expect((await rawGet(host.httpPort, '/api/health')).status).toBe(200);
  });

  it('outside /api only GET and HEAD; the body of anything else is not read', async () => {
    const res = await rawGet(host.httpPort, '/mail/inbox', { 'content-length': '5' }, 'POST');
    expect([res.status, res.headers.allow]).toEqual([405, 'GET, HEAD']);
  });
});

describe('the webmail build for an API on another origin (Static Web App + Function App)', () => {
  it('calls VITE_NIMBUS_API_URL, allows its origin in connect-src, and writes the Static Web App config (deep links, headers)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'nimbus-swa-'));
    try {
      const vite = join(dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
      await promisify(execFile)(process.execPath, [vite, 'build', '--config', join(__dirname, '..', 'webmail', 'vite.config.mts'), '--outDir', out, '--emptyOutDir', '--logLevel', 'error'], {
        env: { ...process.env, VITE_NIMBUS_API_URL: 'https://nimbus-api.example.test/api' },
      });
      const config = JSON.parse(readFileSync(join(out, 'staticwebapp.config.json'), 'utf8'));
      expect(config.navigationFallback).toEqual({ rewrite: '/index.html', exclude: ['/assets/*', '/favicon.svg'] });
      expect(config.globalHeaders['content-security-policy']).toContain("connect-src 'self' https://nimbus-api.example.test;");
      expect(config.globalHeaders['x-content-type-options']).toBe('nosniff');
      const script = readdirSync(join(out, 'assets')).find((f) => f.endsWith('.js'))!;
      expect(readFileSync(join(out, 'assets', script), 'utf8')).toContain('https://nimbus-api.example.test/api');
      // the default build (served by the local host) calls /api on its own origin
      const local = readdirSync(join(defaultWebmailDir(), 'assets')).find((f) => f.endsWith('.js'))!;
      expect(readFileSync(join(defaultWebmailDir(), 'assets', local), 'utf8')).not.toContain('nimbus-api.example.test');
    } finally {
      cleanupDir(out);
    }
  });
});

describe('static files: only what is inside the build folder', () => {
  let root: string;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'nimbus-static-'));
    mkdirSync(join(root, 'site', 'assets'), { recursive: true });
    writeFileSync(join(root, 'site', 'index.html'), '<!doctype html><p>app</p>');
    writeFileSync(join(root, 'site', 'assets', 'a-1234.js'), 'console.log(1)');
    writeFileSync(join(root, 'secret.txt'), 'TOP SECRET');
    const site = createStaticSite(join(root, 'site'));
    server = createServer((req, res) => void site(req, res, new URL(req.url ?? '/', 'http://x').pathname));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    cleanupDir(root);
  });

  it('"..", encoded or not, NUL and backslashes never reach a file outside', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/assets/%2e%2e%2f%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/secret.txt%00.js', '/%2e%2e%2fsecret.txt']) {
      const res = await rawGet(port, path);
      expect([path, res.body.includes('TOP SECRET')]).toEqual([path, false]);
    }
    expect((await rawGet(port, '/%E0%A4%A')).status).toBe(400);
    expect((await rawGet(port, '/assets/a-1234.js')).body).toBe('console.log(1)');
  });

  it('a missing build answers 503 with what to do, not an empty page', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'nimbus-nobuild-'));
    const site = createStaticSite(empty);
    const s = createServer((req, res) => void site(req, res, '/mail/inbox'));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const res = await rawGet((s.address() as AddressInfo).port, '/mail/inbox');
      expect(res.status).toBe(503);
      expect(res.body).toContain('npm run build');
    } finally {
      await new Promise((r) => s.close(r));
      cleanupDir(empty);
    }
  });
});

describe('API additions for the webmail', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost({}, { setup: false });
  });
  afterAll(async () => {
    await host.destroy();
  });

  it('GET /api/setup says whether first-run setup is still needed, and whether this caller needs the setup code', async () => {
    expect(await apiJson(host, '/setup')).toEqual({ needed: true, codeNeeded: false });
    // through a proxy (or from another machine) the code is needed
    expect(await apiJson(host, '/setup', { headers: { 'x-forwarded-for': '203.0.113.9' } })).toEqual({ needed: true, codeNeeded: true });
    const res = await host.api('/setup', { method: 'POST', body: JSON.stringify({ domain: 'example.com', email: 'admin@example.com', password: 'long enough pw', name: 'A' }) });
    expect(res.status).toBe(201);
    expect(await apiJson(host, '/setup')).toEqual({ needed: false, codeNeeded: false });
  });

  it("the webmail's API types are the ones the server's OpenAPI document gives (run `npm run api-types` after changing a route)", async () => {
    const { renderApiTypes } = await import('../webmail/scripts/api-types.mjs');
    const fresh = await renderApiTypes(buildOpenApi(routes, '0.1.0'));
    const committed = readFileSync(join(__dirname, '..', 'webmail', 'src', 'api', 'openapi.gen.ts'), 'utf8');
    expect(fresh.length).toBeGreaterThan(1000);
    expect(committed === fresh, 'webmail/src/api/openapi.gen.ts is stale: run `npm run api-types`').toBe(true);
  });
});
