import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRequest } from '@azure/functions';
import { clientIp } from '../functions/http-kit';
import { INBOUND_TRIGGER } from '../functions/inbound-trigger';
import { ORPHAN_SWEEP_TRIGGER, sweepSchedule } from '../functions/orphan-sweep-trigger';
import { OUTBOUND_TRIGGER } from '../functions/outbound-trigger';
import { registerFunctions } from '../functions/register';
import { RecordingRegistry } from './azure-helpers';
import { startTestHost, type TestHost } from './helpers';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const root = resolve(__dirname, '..');

describe('the Functions app', () => {
  let host: TestHost;
  const registry = new RecordingRegistry();
  beforeAll(async () => {
    host = await startTestHost();
    registerFunctions(registry, () => {
      throw new Error('registration must not build the context');
    });
  });
  afterAll(async () => host.destroy());

  it('registers exactly the routes and methods the local host serves (probed over HTTP), and the inbound queue trigger', async () => {
    const registered = new Map<string, Set<string>>();
    for (const fn of registry.httpFunctions.values()) {
      const path = `/${fn.route}`;
      const methods = registered.get(path) ?? new Set<string>();
      for (const m of fn.methods ?? []) {
        expect(methods.has(m), `${m} ${path} registered twice`).toBe(false);
        methods.add(m);
      }
      registered.set(path, methods);
    }
    expect(registered.size).toBeGreaterThan(15);
    // the local host, asked every method on every path: 405 exactly where no function is registered
    const served = new Map<string, Set<string>>();
    for (const path of registered.keys()) {
      const url = path.replace(/\{\w+\}/g, 'x');
      for (const method of METHODS) {
        const res = await host.api(url, { method, token: host.token, body: method === 'GET' ? undefined : '{}' });
        const body = (await res.json().catch(() => null)) as { error?: string; code?: string } | null;
        expect(body?.error === 'Not found' && body?.code === 'NotFound', `router 404 for ${method} ${path}`).toBe(false);
        if (res.status !== 405) served.set(path, (served.get(path) ?? new Set()).add(method));
      }
    }
    const flat = (m: Map<string, Set<string>>) => [...m].flatMap(([p, ms]) => [...ms].map((x) => `${x} ${p}`)).sort();
    expect(flat(served)).toEqual(flat(registered));
    // and a path no function has is the router's 404 locally too
    const unknown = await host.api('/no-such-route', { token: host.token });
    expect(unknown.status).toBe(404);

    for (const fn of registry.httpFunctions.values()) expect(fn.authLevel).toBe('anonymous');
    expect([...registry.serviceBusFunctions.keys()]).toEqual([INBOUND_TRIGGER.name, OUTBOUND_TRIGGER.name]);
    expect([...registry.timerFunctions.keys()].sort()).toEqual(['domain-timer', 'orphan-sweep']);
    expect([...registry.orchestrations.keys()]).toEqual(['verify-domain']);
    expect([...registry.activities.keys()]).toEqual(['check-domain']);
    expect(registry.serviceBusFunctions.get(INBOUND_TRIGGER.name)).toMatchObject({ connection: 'NIMBUS_SERVICEBUS_CONNECTION', queueName: '%NIMBUS_SERVICEBUS_QUEUE%', cardinality: 'one' });
    expect(registry.serviceBusFunctions.get(OUTBOUND_TRIGGER.name)).toMatchObject({ connection: 'NIMBUS_SERVICEBUS_CONNECTION', queueName: '%NIMBUS_SERVICEBUS_OUTBOUND_QUEUE%', cardinality: 'one' });
    expect(registry.timerFunctions.has(ORPHAN_SWEEP_TRIGGER.name)).toBe(true);
    expect(registry.timerFunctions.get(ORPHAN_SWEEP_TRIGGER.name)).toMatchObject({ schedule: '0 0 */1 * * *' });
  });

  it('the orphan sweep timer follows NIMBUS_SWEEP_INTERVAL_MINUTES (NCRONTAB with seconds); 0 registers no timer', () => {
    expect([15, 0.5, 60, 180, 1440, 10_080].map(sweepSchedule)).toEqual(['0 */15 * * * *', '0 */1 * * * *', '0 0 */1 * * *', '0 0 */3 * * *', '0 0 0 * * *', '0 0 0 * * *']);
    const none = new RecordingRegistry();
    registerFunctions(none, () => {
      throw new Error('registration must not build the context');
    }, { sweepIntervalMinutes: 0 });
    expect([...none.timerFunctions.keys()]).toEqual(['domain-timer']); // the DNS verification's timer is always there
    expect(none.httpFunctions.size).toBe(registry.httpFunctions.size);
  });

  it('the client address for login limits is the last X-Forwarded-For entry (the one Azure appends), port dropped', () => {
    const ip = (xff: string) => clientIp(new HttpRequest({ method: 'GET', url: 'http://x/api/health', headers: { 'x-forwarded-for': xff } }));
    expect(ip('203.0.113.9, 198.51.100.7:51234')).toBe('198.51.100.7'); // a forged first entry is ignored
    expect(ip('198.51.100.7')).toBe('198.51.100.7');
    expect(ip('[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(ip('')).toBe('unknown');
  });

  it('what publish uploads for the remote build: package.json main is the built entry, host.json has the extension bundle, .funcignore keeps the sources and drops dependencies, build output and tests', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
    expect(pkg.main).toBe('dist/functions/index.js');
    expect(pkg.scripts.build).toMatch(/^tsc /); // what the remote build runs after npm install
    expect(readFileSync(resolve(root, pkg.main), 'utf8')).toContain('registerFunctions'); // npm test builds first
    const hostJson = JSON.parse(readFileSync(resolve(root, 'host.json'), 'utf8'));
    expect(hostJson.version).toBe('2.0');
    expect(hostJson.extensionBundle.id).toBe('Microsoft.Azure.Functions.ExtensionBundle');
    expect(hostJson.extensions.http.routePrefix).toBe('api'); // the routes are registered without it, as the local host mounts them under /api
    // the DNS verification's Durable task hub lives in the Functions app's own storage account (README says so)
    expect(hostJson.extensions.durableTask).toMatchObject({ hubName: 'NimbusMail', storageProvider: { type: 'AzureStorage', connectionName: 'AzureWebJobsStorage' } });
    const ignored = readFileSync(resolve(root, '.funcignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const entry of ['/node_modules/', '/dist/', '/test/', '/data/', '/local.settings.json', '*.test.ts']) expect(ignored).toContain(entry);
    // the remote build compiles these: none may be left out
    for (const kept of ['*.ts', '/core/', '/adapters/', '/functions/', '/tsconfig.json', '/package.json', '/package-lock.json', '/host.json']) expect(ignored).not.toContain(kept);
    // a folder pattern without a leading / would match nested folders too (node_modules/x/test/ ...)
    for (const entry of ignored.filter((e) => e.endsWith('/'))) expect(entry.startsWith('/'), entry).toBe(true);
  });

  const run = (file: string, env: Record<string, string>) =>
    promisify(execFile)(process.execPath, [file], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
  const good = {
    NIMBUS_COSMOS_ENDPOINT: 'http://127.0.0.1:9',
    NIMBUS_COSMOS_KEY: 'k',
    NIMBUS_BLOB_CONNECTION_STRING: 'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/a;',
    NIMBUS_SERVICEBUS_CONNECTION: 'Endpoint=sb://127.0.0.1:9;SharedAccessKeyName=n;SharedAccessKey=k;UseDevelopmentEmulator=true',
    NIMBUS_JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    NIMBUS_SETUP_TOKEN: 'test-setup-token-0123',
    NIMBUS_LOG_LEVEL: 'silent',
  };

  it('a missing or malformed app setting stops the Functions worker and the edge at start-up, naming it (and never echoing a secret)', async () => {
    const functionsEntry = resolve(root, 'dist', 'functions', 'index.js');
    const edgeEntry = resolve(root, 'dist', 'smtp-edge', 'main.js');
    const { NIMBUS_SERVICEBUS_CONNECTION: _omit, ...missing } = good;
    const noBus = await run(functionsEntry, missing);
    expect(noBus.code).not.toBe(0);
    expect(noBus.stderr).toContain('NIMBUS_SERVICEBUS_CONNECTION: required when NIMBUS_MODE=azure');

    const badUrl = await run(edgeEntry, { ...good, NIMBUS_COSMOS_ENDPOINT: 'cosmos-without-scheme' });
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('NIMBUS_COSMOS_ENDPOINT');

    const badBlob = await run(edgeEntry, { ...good, NIMBUS_BLOB_CONNECTION_STRING: 'AccountKey=super-secret-value' });
    expect(badBlob.code).toBe(2);
    expect(badBlob.stderr).toContain('NIMBUS_BLOB_CONNECTION_STRING');
    expect(badBlob.stderr).not.toContain('super-secret-value');

    const badKey = await run(functionsEntry, { ...good, NIMBUS_BLOB_CONNECTION_STRING: 'AccountName=a;AccountKey=not base64!!;BlobEndpoint=http://127.0.0.1:9/a' });
    expect(badKey.code).not.toBe(0);
    expect(badKey.stderr).toContain('NIMBUS_BLOB_CONNECTION_STRING: Invalid');
    expect(badKey.stderr).not.toContain('not base64!!');

    const badBus = await run(edgeEntry, { ...good, NIMBUS_SERVICEBUS_CONNECTION: 'Endpoint=sb://bus.test/;EntityPath=x' });
    expect(badBus.code).toBe(2);
    expect(badBus.stderr).toContain('NIMBUS_SERVICEBUS_CONNECTION');

    const badPort = await run(edgeEntry, { ...good, NIMBUS_SMTP_PORT: '70000' });
    expect(badPort).toMatchObject({ code: 2 });
    expect(badPort.stderr).toContain('NIMBUS_SMTP_PORT');
  });

  const identityForm = {
    NIMBUS_COSMOS_ENDPOINT: 'https://127.0.0.1:9/',
    NIMBUS_BLOB_ACCOUNT_URL: 'https://127.0.0.1:9/a',
    NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: '127.0.0.1:9',
    NIMBUS_SERVICEBUS_CONNECTION__credential: 'managedidentity',
    NIMBUS_SERVICEBUS_CONNECTION__clientId: '6b1f3c0e-2f4d-4e7a-9c1b-0a5d8e2f7c34',
    AZURE_CLIENT_ID: '6b1f3c0e-2f4d-4e7a-9c1b-0a5d8e2f7c34',
    NIMBUS_JWT_SECRET: good.NIMBUS_JWT_SECRET,
    NIMBUS_SETUP_TOKEN: good.NIMBUS_SETUP_TOKEN,
    NIMBUS_LOG_LEVEL: 'silent',
  };

  it('with neither a key nor an endpoint, both entries stop at start-up naming each missing setting; half an identity connection is named too', async () => {
    const functionsEntry = resolve(root, 'dist', 'functions', 'index.js');
    const edgeEntry = resolve(root, 'dist', 'smtp-edge', 'main.js');
    for (const entry of [functionsEntry, edgeEntry]) {
      const none = await run(entry, { NIMBUS_JWT_SECRET: good.NIMBUS_JWT_SECRET, NIMBUS_LOG_LEVEL: 'silent' });
      expect(none.code).not.toBe(0);
      expect(none.stderr).toContain('NIMBUS_COSMOS_ENDPOINT: required when NIMBUS_MODE=azure');
      expect(none.stderr).toContain('NIMBUS_BLOB_CONNECTION_STRING: required when NIMBUS_MODE=azure (or NIMBUS_BLOB_ACCOUNT_URL');
      expect(none.stderr).toContain('NIMBUS_SERVICEBUS_CONNECTION: required when NIMBUS_MODE=azure (or NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace');
    }
    const { NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: _n, ...half } = identityForm;
    const halfBus = await run(edgeEntry, half);
    expect(halfBus.code).toBe(2);
    expect(halfBus.stderr).toContain('NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: required with NIMBUS_SERVICEBUS_CONNECTION__credential');
  });

  it('with the identity form (endpoints, no key) the Functions entry loads and registers without asking for a token', async () => {
    const functionsEntry = resolve(root, 'dist', 'functions', 'index.js');
    // IDENTITY_ENDPOINT points nowhere: a token request at load time would fail the load
    const loaded = await promisify(execFile)(process.execPath, ['-e', `require(${JSON.stringify(functionsEntry)}); console.log('loaded')`], { env: { PATH: process.env.PATH ?? '', ...identityForm, IDENTITY_ENDPOINT: 'http://127.0.0.1:9/msi/token', IDENTITY_HEADER: 'x' }, timeout: 20_000 });
    expect(loaded.stdout).toContain('loaded');
  });

  it('with good settings the Functions entry loads and registers without connecting anywhere', async () => {
    const functionsEntry = resolve(root, 'dist', 'functions', 'index.js');
    const loaded = await promisify(execFile)(process.execPath, ['-e', `require(${JSON.stringify(functionsEntry)}); console.log('loaded')`], { env: { PATH: process.env.PATH ?? '', ...good }, timeout: 20_000 });
    expect(loaded.stdout).toContain('loaded');
  });
});
