import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableResolver } from '../adapters/dns/table-resolver';
import { createLogger } from '../core/logger';
import { publishTold, type ToldRecord } from './dns-helpers';
import { startFakeSendgrid, type FakeSendgrid } from './fake-sendgrid';
import { PASSWORD, startTestHost, type TestHost } from './helpers';

interface DomainView {
  name: string;
  unicodeName: string;
  status: string;
  reason: string | null;
  createdAt: string;
  lastCheckedAt: string | null;
  nextCheckAt: string | null;
  attempts: number;
  records: Array<ToldRecord & { purpose: string; status: string; found: string | null; explanation: string }>;
}

/** Every log line the host writes, kept for the "private key never logged" check. */
function captureLogs() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, logger: createLogger('trace', 'nimbus', stream) };
}

describe('domain API', () => {
  let host: TestHost;
  const dns = new TableResolver({});
  const logs = captureLogs();
  let userToken = '';
  const privateKeys: string[] = [];

  beforeAll(async () => {
    host = await startTestHost({ NIMBUS_HOSTNAME: 'mx.example.com' }, { resolver: dns, logger: logs.logger, scheduler: false });
    const reg = await host.api('/auth/register', { method: 'POST', token: host.token, body: JSON.stringify({ email: 'user@example.com', password: PASSWORD, name: 'User' }) });
    expect(reg.status).toBe(201);
    const login = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'user@example.com', password: PASSWORD }) });
    userToken = ((await login.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await host.destroy();
  });

  const create = (name: string, token = host.token) => host.api('/domains', { method: 'POST', token, body: JSON.stringify({ name }) });
  /** Every answer of this suite, to prove no private key ever appears in one. */
  const answers: string[] = [];
  const read = async <T>(res: Response): Promise<T> => {
    const text = await res.text();
    answers.push(text);
    return JSON.parse(text) as T;
  };

  it('creating a domain (IDN) answers the records to publish with exact values; stored as A-labels, shown as U-labels', async () => {
    const res = await create('Bücher.Example');
    expect(res.status).toBe(201);
    const d = await read<DomainView>(res);
    expect(d).toMatchObject({ name: 'xn--bcher-kva.example', unicodeName: 'bücher.example', status: 'pending', lastCheckedAt: null, attempts: 0 });
    expect(Date.parse(d.nextCheckAt!)).toBeLessThanOrEqual(Date.now());
    const byPurpose = Object.fromEntries(d.records.map((r) => [r.purpose, r]));
    expect(byPurpose.mx).toMatchObject({ type: 'MX', host: 'xn--bcher-kva.example', value: 'mx.example.com', status: 'pending' });
    expect(byPurpose.spf).toMatchObject({ type: 'TXT', host: 'xn--bcher-kva.example', value: 'v=spf1 mx ~all' });
    expect(byPurpose.dkim.host).toMatch(/^nimbus\d{8}\._domainkey\.xn--bcher-kva\.example$/);
    expect(byPurpose.dkim.value).toMatch(/^v=DKIM1; k=rsa; p=MII[A-Za-z0-9+/=]+$/);
    expect(byPurpose.dmarc).toMatchObject({ host: '_dmarc.xn--bcher-kva.example', value: 'v=DMARC1; p=none; rua=mailto:postmaster@xn--bcher-kva.example' });
    expect(byPurpose['mail-host']).toMatchObject({ type: 'A', host: 'mx.example.com' });
    const stored = (await host.app.store.getDomain('xn--bcher-kva.example'))!;
    expect(stored.dkim!.publicKey).toBe(byPurpose.dkim.value.split('p=')[1]);
    privateKeys.push(stored.dkim!.privateKeyPem);
    // the path takes either form
    expect((await host.api('/domains/b%C3%BCcher.example', { token: host.token })).status).toBe(200);
    expect((await host.api('/domains/xn--bcher-kva.example', { token: host.token })).status).toBe(200);
  });

  it('the setup domain has its key and records too', async () => {
    const d = await read<DomainView>(await host.api('/domains/example.com', { token: host.token }));
    expect(d.records.find((r) => r.purpose === 'dkim')?.value).toMatch(/^v=DKIM1; k=rsa; p=MII/);
    privateKeys.push((await host.app.store.getDomain('example.com'))!.dkim!.privateKeyPem);
  });

  it.each([
    ['', 'empty'],
    [`${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.eeeeeeeeee.com`, 'longer than 253'],
    [`${'a'.repeat(64)}.com`, 'longer than 63'],
    ['a..example.com', 'two dots'],
    ['-lead.example.com', 'hyphen'],
    ['under_score.example.com', 'underscore'],
    ['https://example.org/', 'URL'],
    ['192.0.2.1', 'IP address'],
  ])('an invalid name %j is 400 (%s), nothing stored', async (name, why) => {
    const before = (await host.app.store.listDomains()).length;
    const res = await create(name);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; error: string; field: string };
    expect(body).toMatchObject({ code: 'ValidationFailed', field: 'name' });
    expect(body.error).toContain(why);
    expect((await host.app.store.listDomains()).length).toBe(before);
  });

  it('a duplicate is 409, in either form', async () => {
    expect((await create('xn--bcher-kva.example')).status).toBe(409);
    expect((await create('example.com')).status).toBe(409);
  });

  it('a non-admin gets 403 on every domain route; no token 401; an unknown domain 404', async () => {
    const calls: Array<[string, string]> = [['GET', '/domains'], ['POST', '/domains'], ['GET', '/domains/example.com'], ['DELETE', '/domains/example.com'], ['POST', '/domains/example.com/verify']];
    for (const [method, path] of calls) {
      const res = await host.api(path, { method, token: userToken, body: method === 'POST' ? JSON.stringify({ name: 'x.example' }) : undefined });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((await host.api(path, { method })).status).toBe(401);
    }
    expect((await host.api('/domains/nowhere.example', { token: host.token })).status).toBe(404);
    expect((await host.api('/domains/not a name', { token: host.token })).status).toBe(404);
    expect((await host.api('/domains/nowhere.example/verify', { method: 'POST', token: host.token })).status).toBe(404);
  });

  it('verify: DNS trouble (SERVFAIL, timeout) keeps the domain pending with a retry; publishing what was told verifies it', async () => {
    const name = 'owner.example';
    const created = await read<DomainView>(await create(name));
    dns.set(name, { error: 'ESERVFAIL' });
    dns.set('mx.example.com', { error: 'ETIMEOUT' });
    const troubled = await read<DomainView>(await host.api(`/domains/${name}/verify`, { method: 'POST', token: host.token }));
    expect(troubled.status).toBe('pending');
    expect(troubled.attempts).toBe(1);
    expect(Date.parse(troubled.nextCheckAt!) - Date.parse(troubled.lastCheckedAt!)).toBe(5 * 60_000);
    const mx = troubled.records.find((r) => r.purpose === 'mx')!;
    expect(mx.status).toBe('error');
    expect(mx.explanation).toContain('SERVFAIL');
    expect(troubled.records.find((r) => r.purpose === 'mail-host')?.explanation).toBe('DNS timed out; will retry');

    dns.replace(publishTold(created.records));
    const verified = await read<DomainView>(await host.api(`/domains/${name}/verify`, { method: 'POST', token: host.token }));
    expect(verified.records.map((r) => [r.purpose, r.status, r.explanation])).toEqual(verified.records.map((r) => [r.purpose, 'ok', r.explanation]));
    expect(verified).toMatchObject({ status: 'verified', attempts: 1, reason: null });
    expect(Date.parse(verified.nextCheckAt!) - Date.parse(verified.lastCheckedAt!)).toBe(24 * 3600_000);
    const listed = await read<{ items: DomainView[] }>(await host.api('/domains', { token: host.token }));
    expect(listed.items.map((d) => [d.name, d.status])).toEqual([
      ['example.com', 'pending'],
      ['owner.example', 'verified'],
      ['xn--bcher-kva.example', 'pending'],
    ]);
    privateKeys.push((await host.app.store.getDomain(name))!.dkim!.privateKeyPem);
  });

  it('two verify requests at once run one check (the second joins it)', async () => {
    const before = dns.queries.length;
    dns.delayMs = 300; // the first check is still asking DNS when the second request comes
    const [a, b] = await Promise.all([1, 2].map(() => host.api('/domains/owner.example/verify', { method: 'POST', token: host.token }))).finally(() => (dns.delayMs = 0));
    expect([a.status, b.status]).toEqual([200, 200]);
    const [va, vb] = await Promise.all([read<DomainView>(a), read<DomainView>(b)]);
    expect(va.lastCheckedAt).toBe(vb.lastCheckedAt);
    expect(dns.queries.slice(before).filter((q) => q === 'TXT _dmarc.owner.example')).toHaveLength(1);
  });

  it('deleting a domain that still has users is 409 saying so; without users it is removed', async () => {
    const res = await host.api('/domains/example.com', { method: 'DELETE', token: host.token });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toMatch(/example\.com still has 2 addresses \(users or aliases\): remove them first/);
    expect((await host.api('/domains/owner.example', { method: 'DELETE', token: host.token })).status).toBe(204);
    expect((await host.api('/domains/owner.example', { token: host.token })).status).toBe(404);
    expect(await host.app.store.getDomain('owner.example')).toBeNull();
  });

  it('no answer and no log line holds a private key', () => {
    expect(privateKeys.length).toBeGreaterThanOrEqual(3);
    expect(answers.length).toBeGreaterThanOrEqual(5);
    expect(logs.lines.length).toBeGreaterThanOrEqual(4);
    const everything = answers.join('\n') + logs.lines.join('\n');
    expect(everything).not.toContain('PRIVATE KEY');
    for (const pem of privateKeys) {
      // the base64 body of the key, line by line (a log may have re-wrapped it)
      for (const line of pem.split('\n').filter((l) => l.length > 40)) expect(everything).not.toContain(line);
    }
    expect(logs.lines.some((l) => l.includes('domain added'))).toBe(true);
  });
});

describe('domains with SendGrid as the outbound transport (SendGrid stood in for on loopback)', () => {
  let host: TestHost;
  let sendgrid: FakeSendgrid;
  const dns = new TableResolver({});
  const KEY = 'SG.test-key-not-real';

  beforeAll(async () => {
    sendgrid = await startFakeSendgrid(KEY);
    host = await startTestHost({ NIMBUS_HOSTNAME: 'mx.example.com', NIMBUS_OUTBOUND_TRANSPORT: 'sendgrid', NIMBUS_SENDGRID_API_KEY: KEY, NIMBUS_SENDGRID_BASE_URL: sendgrid.baseUrl }, { resolver: dns, scheduler: false });
  });
  afterAll(async () => {
    await host.destroy();
    await sendgrid.stop();
  });

  it('a new domain gets SendGrid\'s CNAMEs (asked with the key) and include:sendgrid.net in SPF; once published, SendGrid is asked to validate', async () => {
    const res = await host.api('/domains', { method: 'POST', token: host.token, body: JSON.stringify({ name: 'sg.example' }) });
    expect(res.status).toBe(201);
    const d = (await res.json()) as DomainView;
    expect(sendgrid.requests[0]).toMatchObject({ method: 'POST', path: '/v3/whitelabel/domains', authorization: `Bearer ${KEY}`, body: { domain: 'sg.example', automatic_security: true } });
    expect(d.records.find((r) => r.purpose === 'spf')?.value).toBe('v=spf1 mx include:sendgrid.net ~all');
    const cnames = d.records.filter((r) => r.purpose === 'sendgrid');
    expect(cnames.map((r) => [r.type, r.host])).toEqual([
      ['CNAME', 's1._domainkey.sg.example'],
      ['CNAME', 's2._domainkey.sg.example'],
      ['CNAME', 'em100.sg.example'],
    ]);
    expect(cnames[2].value).toBe('u100.wl.sendgrid.net');
    dns.replace(publishTold(d.records));
    const verified = (await (await host.api('/domains/sg.example/verify', { method: 'POST', token: host.token })).json()) as DomainView;
    expect(verified.status).toBe('verified');
    expect(sendgrid.requests.some((r) => r.method === 'POST' && r.path === '/v3/whitelabel/domains/100/validate')).toBe(true);
    expect((await host.app.store.getDomain('sg.example'))?.sendgrid?.valid).toBe(true);
  });

  it('SendGrid failing is 503 and stores nothing; deleting a domain removes its SendGrid entry', async () => {
    sendgrid.failNext = 500;
    const res = await host.api('/domains', { method: 'POST', token: host.token, body: JSON.stringify({ name: 'later.example' }) });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code: string }).code).toBe('TemporaryFailure');
    expect(await host.app.store.getDomain('later.example')).toBeNull();
    expect((await host.api('/domains/sg.example', { method: 'DELETE', token: host.token })).status).toBe(204);
    expect(sendgrid.domains.has(100)).toBe(false);
  });

  it('the setup domain gets SendGrid\'s records at its first check', async () => {
    const res = await host.api('/domains/example.com/verify', { method: 'POST', token: host.token });
    const d = (await res.json()) as DomainView;
    expect(d.records.filter((r) => r.purpose === 'sendgrid')).toHaveLength(3);
    expect(d.status).toBe('pending');
  });
});
