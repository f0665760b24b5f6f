import { beforeAll, describe, expect, it } from 'vitest';
import { TableResolver, type DnsTable } from '../adapters/dns/table-resolver';
import { dkimRecordValue, generateDkimKey } from './dkim';
import { checkRecords, dmarcValue, expectedRecords, spfValue, type CheckSettings } from './domain-check';
import { parseDomainName } from './domain-name';
import type { DkimKey, RecordCheck, RecordPurpose, SendgridDomainAuth } from './types';

const settings: CheckSettings = { mailHost: 'mx.example.com', sendgrid: false };
let key: DkimKey;
let other: DkimKey;
beforeAll(async () => {
  [key, other] = await Promise.all([generateDkimKey(Date.UTC(2026, 10, 26)), generateDkimKey(Date.UTC(2026, 10, 26))]);
});

/** Everything right for `name`, as an owner who followed the instructions publishes it. */
function goodTable(name = 'owner.test', dkim = key): DnsTable {
  return {
    [name]: { MX: [{ exchange: 'mx.example.com', priority: 10 }], TXT: [spfValue(settings), 'google-site-verification=abc'] },
    'mx.example.com': { A: ['192.0.2.25'] },
    [`${dkim.selector}._domainkey.${name}`]: { TXT: [chunks(dkimRecordValue(dkim))] },
    [`_dmarc.${name}`]: { TXT: [dmarcValue(name)] },
  };
}

/** A long TXT record as DNS serves it: strings of at most 255 characters. */
function chunks(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out;
}

async function check(table: DnsTable, opts: { name?: string; s?: CheckSettings; sendgrid?: SendgridDomainAuth | null } = {}): Promise<Record<RecordPurpose, RecordCheck>> {
  const name = opts.name ?? 'owner.test';
  const results = await checkRecords(new TableResolver(table), { name, dkim: key, sendgrid: opts.sendgrid ?? null }, opts.s ?? settings);
  return Object.fromEntries(results.map((r) => [r.purpose, r])) as Record<RecordPurpose, RecordCheck>;
}

describe('the records to publish', () => {
  it('MX to the mail host, its address, SPF, DKIM at selector._domainkey, DMARC at _dmarc with p=none and a rua to postmaster', () => {
    const records = expectedRecords({ name: 'owner.test', dkim: key, sendgrid: null }, settings);
    expect(records.map((r) => [r.purpose, r.type, r.host])).toEqual([
      ['mx', 'MX', 'owner.test'],
      ['mail-host', 'A', 'mx.example.com'],
      ['spf', 'TXT', 'owner.test'],
      ['dkim', 'TXT', 'nimbus20261126._domainkey.owner.test'],
      ['dmarc', 'TXT', '_dmarc.owner.test'],
    ]);
    expect(records[0].value).toBe('mx.example.com');
    expect(records[2].value).toBe('v=spf1 mx ~all');
    expect(records[3].value).toBe(`v=DKIM1; k=rsa; p=${key.publicKey}`);
    expect(records[4].value).toBe('v=DMARC1; p=none; rua=mailto:postmaster@owner.test');
  });

  it('with SendGrid as the transport: include:sendgrid.net in SPF and SendGrid\'s CNAMEs', () => {
    const sendgrid: SendgridDomainAuth = { id: 7, valid: false, records: [{ type: 'CNAME', host: 'em7.owner.test', value: 'u7.wl.sendgrid.net', purpose: 'sendgrid' }] };
    const records = expectedRecords({ name: 'owner.test', dkim: key, sendgrid }, { ...settings, sendgrid: true });
    expect(records.find((r) => r.purpose === 'spf')?.value).toBe('v=spf1 mx include:sendgrid.net ~all');
    expect(records.at(-1)).toEqual(sendgrid.records[0]);
  });
});

describe('the checker, against a table resolver', () => {
  it('everything right: every record ok (the DKIM key split into 255-character strings, other TXT records beside SPF)', async () => {
    const r = await check(goodTable());
    for (const purpose of ['mx', 'mail-host', 'spf', 'dkim', 'dmarc'] as const) expect(r[purpose].status, `${purpose}: ${r[purpose].explanation}`).toBe('ok');
    expect(r.dmarc.explanation).toContain('tighten it to p=quarantine');
    expect(r['mail-host'].found).toBe('192.0.2.25');
  });

  it('case and trailing dots in published records do not matter', async () => {
    const t = goodTable();
    t['owner.test'].MX = [{ exchange: 'MX.Example.COM.', priority: 10 }];
    t['owner.test'].TXT = ['V=SPF1 MX ~ALL'];
    const r = await check(t);
    expect(r.mx.status).toBe('ok');
    expect(r.spf.status).toBe('ok');
  });

  it('"SPF exists but does not include this server"', async () => {
    const t = goodTable();
    t['owner.test'].TXT = ['v=spf1 ip4:198.51.100.1 -all'];
    const r = await check(t);
    expect(r.spf).toMatchObject({ status: 'wrong', found: 'v=spf1 ip4:198.51.100.1 -all' });
    expect(r.spf.explanation).toContain('SPF exists but does not include this server');
  });

  it('SPF that allows this server through ip4: or an include chain is ok (evaluated as receivers do)', async () => {
    const t = goodTable();
    t['owner.test'].TXT = ['v=spf1 include:_spf.provider.test -all'];
    t['_spf.provider.test'] = { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] };
    expect((await check(t)).spf.status).toBe('ok');
  });

  it('"two SPF records: receivers treat that as an error"', async () => {
    const t = goodTable();
    t['owner.test'].TXT = ['v=spf1 mx ~all', 'v=spf1 include:other.test ~all'];
    const r = await check(t);
    expect(r.spf.status).toBe('wrong');
    expect(r.spf.explanation).toContain('two SPF records: receivers treat that as an error');
    expect(r.spf.found).toBe('v=spf1 mx ~all\nv=spf1 include:other.test ~all');
  });

  it('no SPF record is missing; +all is wrong; SPF split into several strings is joined', async () => {
    const t = goodTable();
    t['owner.test'].TXT = ['unrelated'];
    expect((await check(t)).spf).toMatchObject({ status: 'missing', found: null });
    t['owner.test'].TXT = ['v=spf1 +all'];
    expect((await check(t)).spf.explanation).toContain('every server in the world');
    t['owner.test'].TXT = [['v=spf1 ', 'mx ', '~all']];
    expect((await check(t)).spf.status).toBe('ok');
  });

  it('with SendGrid: SPF without include:sendgrid.net is wrong; its CNAMEs are checked', async () => {
    const s = { ...settings, sendgrid: true };
    const sendgrid: SendgridDomainAuth = {
      id: 7,
      valid: false,
      records: [
        { type: 'CNAME', host: 'em7.owner.test', value: 'u7.wl.sendgrid.net', purpose: 'sendgrid' },
        { type: 'CNAME', host: 's1._domainkey.owner.test', value: 's1.domainkey.u7.wl.sendgrid.net', purpose: 'sendgrid' },
      ],
    };
    const t = goodTable();
    t['em7.owner.test'] = { CNAME: 'u7.wl.sendgrid.net.' };
    t['s1._domainkey.owner.test'] = { CNAME: 'elsewhere.test' };
    const results = await checkRecords(new TableResolver(t), { name: 'owner.test', dkim: key, sendgrid }, s);
    expect(results.find((r) => r.purpose === 'spf')?.explanation).toContain('SPF does not include sendgrid.net');
    const [mailCname, dkimCname] = results.filter((r) => r.purpose === 'sendgrid');
    expect(mailCname.status).toBe('ok');
    expect(dkimCname).toMatchObject({ status: 'wrong', found: 'elsewhere.test' });
    t['owner.test'].TXT = [spfValue(s)];
    expect((await checkRecords(new TableResolver(t), { name: 'owner.test', dkim: key, sendgrid }, s)).find((r) => r.purpose === 'spf')?.status).toBe('ok');
  });

  it('"DKIM key does not match the one this server signs with"; a revoked key; no key', async () => {
    const t = goodTable('owner.test', other);
    t[`${key.selector}._domainkey.owner.test`] = { TXT: [chunks(dkimRecordValue(other))] };
    const r = await check(t);
    expect(r.dkim.status).toBe('wrong');
    expect(r.dkim.explanation).toBe('DKIM key does not match the one this server signs with');
    t[`${key.selector}._domainkey.owner.test`] = { TXT: ['v=DKIM1; p='] };
    expect((await check(t)).dkim.explanation).toContain('revoked');
    delete t[`${key.selector}._domainkey.owner.test`];
    expect((await check(t)).dkim).toMatchObject({ status: 'missing', found: null });
  });

  it('DKIM published through a CNAME chain (a delegated _domainkey) is followed', async () => {
    const t = goodTable();
    const host = `${key.selector}._domainkey.owner.test`;
    t['keys.provider.test'] = t[host];
    t['hop.provider.test'] = { CNAME: 'keys.provider.test' };
    t[host] = { CNAME: 'hop.provider.test' };
    expect((await check(t)).dkim.status).toBe('ok');
  });

  it('"MX points to mail.other.com, not to mx.example.com"', async () => {
    const t = goodTable();
    t['owner.test'].MX = [{ exchange: 'mail.other.com', priority: 10 }];
    const r = await check(t);
    expect(r.mx).toMatchObject({ status: 'wrong', found: '10 mail.other.com' });
    expect(r.mx.explanation).toBe('MX points to mail.other.com, not to mx.example.com');
  });

  it('MX: another host preferred is wrong, a backup is fine, a null MX is wrong, an alias (CNAME) of this server is wrong', async () => {
    const t = goodTable();
    t['owner.test'].MX = [{ exchange: 'mx.example.com', priority: 20 }, { exchange: 'first.other.com', priority: 5 }];
    expect((await check(t)).mx.explanation).toContain('MX prefers first.other.com (priority 5)');
    t['owner.test'].MX = [{ exchange: 'mx.example.com', priority: 10 }, { exchange: 'backup.other.com', priority: 20 }];
    expect((await check(t)).mx).toMatchObject({ status: 'ok', found: '10 mx.example.com\n20 backup.other.com' });
    t['owner.test'].MX = [{ exchange: '', priority: 0 }];
    expect((await check(t)).mx.explanation).toContain('null MX');
    t['owner.test'].MX = [{ exchange: 'mail.owner.test', priority: 10 }];
    t['mail.owner.test'] = { CNAME: 'alias.example.com' };
    t['alias.example.com'] = { CNAME: 'mx.example.com' };
    const r = await check(t);
    expect(r.mx.status).toBe('wrong');
    expect(r.mx.explanation).toContain('an alias (CNAME) of mx.example.com');
  });

  it('"the name does not exist (NXDOMAIN)"', async () => {
    const r = await check({ 'mx.example.com': { A: ['192.0.2.25'] } }, { name: 'unregistered.test' });
    expect(r.mx.status).toBe('missing');
    expect(r.mx.explanation).toContain('the name does not exist (NXDOMAIN)');
    expect(r.spf.explanation).toContain('the name does not exist (NXDOMAIN)');
    expect(r.dkim.status).toBe('missing');
    expect(r.dmarc.status).toBe('missing');
  });

  it('"DNS timed out; will retry" and SERVFAIL are errors, not missing', async () => {
    const t = goodTable();
    t['owner.test'] = { error: 'ETIMEOUT' };
    t[`_dmarc.owner.test`] = { error: 'ESERVFAIL' };
    const r = await check(t);
    expect(r.mx).toMatchObject({ status: 'error', explanation: 'DNS timed out; will retry' });
    expect(r.spf).toMatchObject({ status: 'error', explanation: 'DNS timed out; will retry' });
    expect(r.dmarc.status).toBe('error');
    expect(r.dmarc.explanation).toContain('SERVFAIL');
    expect(r.dmarc.explanation).toContain('will retry');
  });

  it('the mail host without an address is missing', async () => {
    const t = goodTable();
    t['mx.example.com'] = { TXT: ['x'] };
    const r = await check(t);
    expect(r['mail-host'].status).toBe('missing');
    expect(r['mail-host'].explanation).toContain('has no address');
  });

  it('DMARC: two records, no policy, a bad policy are wrong; quarantine and reject are ok', async () => {
    const t = goodTable();
    const set = (...txt: string[]) => (t['_dmarc.owner.test'] = { TXT: txt });
    set('v=DMARC1; p=none', 'v=DMARC1; p=reject');
    expect((await check(t)).dmarc.explanation).toContain('two DMARC records');
    set('v=DMARC1; rua=mailto:x@owner.test');
    expect((await check(t)).dmarc.explanation).toContain('no policy');
    set('v=DMARC1; p=maybe');
    expect((await check(t)).dmarc.status).toBe('wrong');
    set('v=DMARC1; p=reject');
    expect((await check(t)).dmarc.status).toBe('ok');
    set('v=DMARC1;p=quarantine');
    expect((await check(t)).dmarc.status).toBe('ok');
  });

  it('IDN: a U-label domain is checked under its A-labels, answers in either form agree', async () => {
    const name = parseDomainName('bücher.example').ascii;
    expect(name).toBe('xn--bcher-kva.example');
    const t = goodTable(name);
    const r = await check(t, { name });
    for (const purpose of ['mx', 'spf', 'dkim', 'dmarc'] as const) expect(r[purpose].status).toBe('ok');
    expect(r.dkim.host).toBe(`${key.selector}._domainkey.xn--bcher-kva.example`);
    // an MX naming a host in U-labels (some tools print it so) is the same host
    const idnHost = await checkRecords(new TableResolver({ ...t, [name]: { ...t[name], MX: [{ exchange: 'mx.bücher.example', priority: 1 }] }, 'xn--mx-bcher-q9a.example': {} }), { name, dkim: key, sendgrid: null }, { mailHost: 'mx.xn--bcher-kva.example', sendgrid: false });
    expect(idnHost.find((x) => x.purpose === 'mx')?.status).toBe('ok');
  });
});

describe('domain names', () => {
  it('IDN names are stored as A-labels and shown as U-labels; case and one trailing dot are accepted', () => {
    expect(parseDomainName('Bücher.Example.')).toEqual({ ascii: 'xn--bcher-kva.example', unicode: 'bücher.example' });
    expect(parseDomainName(' EXAMPLE.com ')).toEqual({ ascii: 'example.com', unicode: 'example.com' });
  });

  it.each([
    ['', 'empty'],
    [Array.from({ length: 5 }, (_, i) => String.fromCharCode(97 + i).repeat(60)).join('.') + '.com', 'longer than 253'],
    ['a'.repeat(64) + '.com', 'longer than 63'],
    ['a..example.com', 'two dots'],
    ['-bad.example.com', 'hyphen'],
    ['under_score.example.com', 'underscore'],
    ['https://example.com', 'URL'],
    ['example.com/path', 'URL'],
    ['192.0.2.1', 'IP address'],
    ['[2001:db8::1]', 'IP address'],
    ['localhost', 'two labels'],
  ])('refuses %j (%s)', (input, why) => {
    expect(() => parseDomainName(input)).toThrow(expect.objectContaining({ code: 'ValidationFailed', message: expect.stringContaining(why) }));
  });
});
