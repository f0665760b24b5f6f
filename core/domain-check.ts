import { spf as evaluateSpf } from './mailauth';
import { dkimRecordValue } from './dkim';
import { DnsError, isNoRecord, mailauthResolver, normalizeName, type DnsErrorCode } from './dns';
import { asciiName } from './domain-name';
import type { DnsResolver, MxRecord } from './ports';
import type { DnsRecordSpec, Domain, RecordCheck, RecordStatus } from './types';

/**
 * What a domain owner must publish, and what DNS says about it. Two steps:
 * `lookupRecords` asks the DnsResolver everything the records need (and evaluates
 * the SPF policy for this server's addresses with mailauth); `evaluateRecords` is
 * pure: it turns those answers into a status, the value found and a sentence per
 * record. The domain check (domain-verify.ts) runs both; tests feed the second
 * directly or through a table resolver.
 */

export interface CheckSettings {
  /** This server's host name (NIMBUS_HOSTNAME): the MX target. */
  mailHost: string;
  /** The outbound transport is SendGrid: SPF must include sendgrid.net and SendGrid's CNAMEs are required. */
  sendgrid: boolean;
}

export const SENDGRID_SPF_INCLUDE = 'include:sendgrid.net';

/** The SPF record told to owners: the domain's MX hosts may send (this server), plus SendGrid when it sends. */
export function spfValue(settings: CheckSettings): string {
  return `v=spf1 mx${settings.sendgrid ? ` ${SENDGRID_SPF_INCLUDE}` : ''} ~all`;
}

/** Starts at p=none (reports only, to the domain's postmaster); README says how to tighten it. */
export function dmarcValue(domain: string): string {
  return `v=DMARC1; p=none; rua=mailto:postmaster@${domain}`;
}

export const MAIL_HOST_ADDRESS = 'the public IPv4 address of this server (AAAA: its IPv6 address)';

/** The records to publish, in the order the API lists them. Hosts are A-labels without a trailing dot. */
export function expectedRecords(domain: Pick<Domain, 'name' | 'dkim' | 'sendgrid'>, settings: CheckSettings): DnsRecordSpec[] {
  const name = domain.name;
  const mailHost = asciiName(settings.mailHost);
  const records: DnsRecordSpec[] = [
    { type: 'MX', host: name, value: mailHost, purpose: 'mx' },
    { type: 'A', host: mailHost, value: MAIL_HOST_ADDRESS, purpose: 'mail-host' },
    { type: 'TXT', host: name, value: spfValue(settings), purpose: 'spf' },
  ];
  if (domain.dkim) records.push({ type: 'TXT', host: `${domain.dkim.selector}._domainkey.${name}`, value: dkimRecordValue(domain.dkim), purpose: 'dkim' });
  records.push({ type: 'TXT', host: `_dmarc.${name}`, value: dmarcValue(name), purpose: 'dmarc' });
  if (settings.sendgrid && domain.sendgrid) records.push(...domain.sendgrid.records);
  return records;
}

type Answer = { ok: true; value: unknown } | { ok: false; code: DnsErrorCode };

/** Everything DNS said, by question ("TXT example.com"), plus the SPF policy's verdict for this server's addresses. */
export interface DnsAnswers {
  answers: Map<string, Answer>;
  /** mailauth's SPF result for each of the mail host's addresses (empty when it has none). */
  spf: Array<{ ip: string; result: string; comment: string | null }>;
}

const key = (type: string, host: string) => `${type} ${normalizeName(host)}`;

async function ask(resolver: DnsResolver, out: Map<string, Answer>, type: 'MX' | 'TXT' | 'CNAME' | 'A' | 'AAAA', host: string): Promise<Answer> {
  const k = key(type, host);
  const known = out.get(k);
  if (known) return known;
  const call: Record<typeof type, () => Promise<unknown>> = {
    MX: () => resolver.resolveMx(host),
    TXT: () => resolver.resolveTxt(host),
    CNAME: () => resolver.resolveCname(host),
    A: () => resolver.resolve4(host),
    AAAA: () => resolver.resolve6(host),
  };
  let answer: Answer;
  try {
    answer = { ok: true, value: await call[type]() };
  } catch (err) {
    answer = { ok: false, code: DnsError.from(err, host, type).code };
  }
  out.set(k, answer);
  return answer;
}

/** Asks DNS everything `evaluateRecords` needs. Never throws: failures are answers too. */
export async function lookupRecords(resolver: DnsResolver, expected: DnsRecordSpec[], settings: CheckSettings, domainName: string): Promise<DnsAnswers> {
  const answers = new Map<string, Answer>();
  const mailHost = asciiName(settings.mailHost);
  await Promise.all(
    expected.map(async (record) => {
      if (record.type === 'MX') {
        const mx = await ask(resolver, answers, 'MX', record.host);
        // an MX naming another host may name an alias of ours: follow its CNAME chain
        if (mx.ok) {
          for (const r of mx.value as MxRecord[]) {
            let name = asciiName(r.exchange);
            for (let hop = 0; name && name !== mailHost && hop < 5; hop++) {
              const c = await ask(resolver, answers, 'CNAME', name);
              if (!c.ok) break;
              name = asciiName((c.value as string[])[0] ?? '');
            }
          }
        }
      } else if (record.type === 'A') {
        await Promise.all([ask(resolver, answers, 'A', record.host), ask(resolver, answers, 'AAAA', record.host)]);
      } else {
        await ask(resolver, answers, record.type, record.host);
      }
    }),
  );
  // the SPF policy as receivers evaluate it, for this server's own addresses
  const spf: DnsAnswers['spf'] = [];
  const spfRecords = txtStrings(answers.get(key('TXT', domainName))).filter(isSpf);
  if (spfRecords.length === 1) {
    const addresses = [...addressesOf(answers.get(key('A', mailHost))).slice(0, 1), ...addressesOf(answers.get(key('AAAA', mailHost))).slice(0, 1)];
    for (const ip of addresses) {
      const result = await evaluateSpf({ sender: `postmaster@${domainName}`, ip, helo: mailHost, mta: mailHost, resolver: mailauthResolver(resolver) });
      spf.push({ ip, result: result.status.result, comment: result.status.comment ?? null });
    }
  }
  return { answers, spf };
}

const txtStrings = (a: Answer | undefined): string[] => (a?.ok ? (a.value as string[][]).map((chunks) => chunks.join('').trim()) : []);
const addressesOf = (a: Answer | undefined): string[] => (a?.ok ? (a.value as string[]) : []);
const isSpf = (txt: string) => /^v=spf1(\s|$)/i.test(txt);

/** The sentence for DNS trouble: always "will retry" (a transient error never fails a domain). */
export function transientSentence(code: DnsErrorCode): string {
  switch (code) {
    case 'ETIMEOUT':
      return 'DNS timed out; will retry';
    case 'ESERVFAIL':
      return 'the DNS server failed to answer (SERVFAIL); will retry';
    case 'EREFUSED':
      return 'the DNS server refused to answer (REFUSED); will retry';
    case 'ECONNREFUSED':
      return 'no DNS server could be reached; will retry';
    default:
      return `the DNS lookup failed (${code}); will retry`;
  }
}

const nxdomain = (host: string) => `the name does not exist (NXDOMAIN): ${host} is not in DNS yet; check its spelling and that the domain is registered and delegated`;

type Verdict = { status: Exclude<RecordStatus, 'pending'>; found: string | null; explanation: string };

/** A failed answer as a verdict: no record is `missing` (NXDOMAIN said so), trouble is `error`. */
function failed(answer: Answer & { ok: false }, host: string, none: string): Verdict {
  if (answer.code === 'ENOTFOUND') return { status: 'missing', found: null, explanation: nxdomain(host) };
  if (answer.code === 'ENODATA') return { status: 'missing', found: null, explanation: none };
  return { status: 'error', found: null, explanation: transientSentence(answer.code) };
}

/** `k=v; k=v` tags of a DKIM or DMARC record, keys lower-cased. */
function tags(record: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of record.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

function checkMx(record: DnsRecordSpec, dns: DnsAnswers, mailHost: string): Verdict {
  const answer = dns.answers.get(key('MX', record.host))!;
  if (!answer.ok) return failed(answer, record.host, `no MX record: mail for ${record.host} has nowhere to go; publish MX ${record.host} → ${mailHost}`);
  const records = [...(answer.value as MxRecord[])].sort((a, b) => a.priority - b.priority);
  const found = records.map((r) => `${r.priority} ${normalizeName(r.exchange) || '.'}`).join('\n');
  if (records.length === 0) return { status: 'missing', found: null, explanation: `no MX record: mail for ${record.host} has nowhere to go` };
  if (records.every((r) => normalizeName(r.exchange) === '')) {
    return { status: 'wrong', found, explanation: `a "null MX" (.) says ${record.host} accepts no mail: replace it with ${mailHost}` };
  }
  const ours = records.filter((r) => asciiName(r.exchange) === mailHost);
  if (ours.length) {
    const preferred = records.find((r) => r.priority < ours[0].priority && asciiName(r.exchange) !== mailHost);
    if (preferred) {
      return { status: 'wrong', found, explanation: `MX prefers ${normalizeName(preferred.exchange)} (priority ${preferred.priority}) over ${mailHost} (priority ${ours[0].priority}): mail goes there first` };
    }
    const backups = records.filter((r) => asciiName(r.exchange) !== mailHost).map((r) => normalizeName(r.exchange));
    return { status: 'ok', found, explanation: `MX points to ${mailHost}` + (backups.length ? ` (${backups.join(', ')} listed as backup)` : '') };
  }
  // an alias (CNAME) of this server: works with many senders, but RFC 2181 forbids it
  for (const r of records) {
    let name = asciiName(r.exchange);
    for (let hop = 0; hop < 5; hop++) {
      const c = dns.answers.get(key('CNAME', name));
      if (!c?.ok) break;
      name = asciiName((c.value as string[])[0] ?? '');
      if (name === mailHost) {
        return { status: 'wrong', found, explanation: `MX points to ${asciiName(r.exchange)}, an alias (CNAME) of ${mailHost}: an MX must name the host itself, so point it at ${mailHost}` };
      }
    }
  }
  return { status: 'wrong', found, explanation: `MX points to ${asciiName(records[0].exchange)}, not to ${mailHost}` };
}

function checkMailHost(record: DnsRecordSpec, dns: DnsAnswers): Verdict {
  const a = dns.answers.get(key('A', record.host))!;
  const aaaa = dns.answers.get(key('AAAA', record.host))!;
  const addresses = [...addressesOf(a), ...addressesOf(aaaa)];
  if (addresses.length) return { status: 'ok', found: addresses.join('\n'), explanation: `${record.host} has the address ${addresses.join(', ')}` };
  const trouble = [a, aaaa].find((x) => !x.ok && !isNoRecord(x));
  if (trouble && !trouble.ok) return { status: 'error', found: null, explanation: transientSentence(trouble.code) };
  if (!a.ok && a.code === 'ENOTFOUND') return { status: 'missing', found: null, explanation: nxdomain(record.host) };
  return { status: 'missing', found: null, explanation: `${record.host} has no address (A or AAAA record): other servers cannot reach it` };
}

function checkSpf(record: DnsRecordSpec, dns: DnsAnswers, settings: CheckSettings): Verdict {
  const mailHost = asciiName(settings.mailHost);
  const answer = dns.answers.get(key('TXT', record.host))!;
  const none = `no SPF record: receivers cannot tell which servers may send mail for ${record.host}`;
  if (!answer.ok) return failed(answer, record.host, none);
  const spfs = txtStrings(answer).filter(isSpf);
  const found = spfs.length ? spfs.join('\n') : null;
  if (spfs.length === 0) return { status: 'missing', found, explanation: none };
  if (spfs.length > 1) return { status: 'wrong', found, explanation: 'two SPF records: receivers treat that as an error; merge them into one' };
  const terms = spfs[0].toLowerCase().split(/\s+/).slice(1);
  if (terms.includes('all') || terms.includes('+all')) return { status: 'wrong', found, explanation: 'SPF allows every server in the world (+all): end it with ~all or -all' };
  if (settings.sendgrid && !terms.includes(SENDGRID_SPF_INCLUDE)) {
    return { status: 'wrong', found, explanation: `SPF does not include sendgrid.net, which sends this domain's mail: add ${SENDGRID_SPF_INCLUDE}` };
  }
  const namesMx = terms.includes('mx') || terms.includes('+mx');
  const namesHost = terms.includes(`a:${mailHost}`) || terms.includes(`+a:${mailHost}`);
  if (dns.spf.length === 0) {
    // this server has no address to evaluate with: judge by the text
    if (namesMx || namesHost) return { status: 'ok', found, explanation: `SPF allows this server (${mailHost})` };
  } else {
    if (dns.spf.some((r) => r.result === 'pass')) return { status: 'ok', found, explanation: `SPF allows this server (${mailHost})` };
    if (dns.spf.some((r) => r.result === 'temperror')) return { status: 'error', found, explanation: 'DNS timed out while following the SPF record; will retry' };
    const broken = dns.spf.find((r) => r.result === 'permerror');
    if (broken) return { status: 'wrong', found, explanation: `the SPF record is broken (${broken.comment ?? 'permerror'}): receivers treat that as an error` };
    if (namesMx) {
      return { status: 'wrong', found, explanation: `SPF exists but does not include this server yet: its "mx" finds no MX pointing to ${mailHost}; fix the MX record and SPF follows` };
    }
  }
  return { status: 'wrong', found, explanation: `SPF exists but does not include this server (${mailHost}): add "mx" before the final "all"` };
}

function checkDkim(record: DnsRecordSpec, dns: DnsAnswers): Verdict {
  const answer = dns.answers.get(key('TXT', record.host))!;
  const none = `no DKIM key at ${record.host}: receivers cannot verify this domain's signatures`;
  if (!answer.ok) {
    // NXDOMAIN here only means the key is not published yet (the domain itself may exist)
    return answer.code === 'ENOTFOUND' ? { status: 'missing', found: null, explanation: none } : failed(answer, record.host, none);
  }
  const all = txtStrings(answer);
  const found = all.length ? all.join('\n') : null;
  const keys = all.filter((r) => /^v=DKIM1\b/i.test(r) || 'p' in tags(r));
  if (keys.length === 0) return { status: 'wrong', found, explanation: `the TXT record at ${record.host} is not a DKIM key` };
  const published = new Set(keys.map((r) => (tags(r).p ?? '').replace(/\s+/g, '')));
  if (published.size > 1) return { status: 'wrong', found, explanation: `two DKIM records at ${record.host}: receivers cannot tell which key to use` };
  const t = tags(keys[0]);
  const p = (t.p ?? '').replace(/\s+/g, '');
  if (!p) return { status: 'wrong', found, explanation: `the DKIM key at ${record.host} is revoked (p= is empty)` };
  if (t.k && t.k.toLowerCase() !== 'rsa') return { status: 'wrong', found, explanation: `the DKIM key type is k=${t.k}; this server signs with k=rsa` };
  const expected = tags(record.value).p;
  if (p !== expected) return { status: 'wrong', found, explanation: 'DKIM key does not match the one this server signs with' };
  return { status: 'ok', found, explanation: 'DKIM key matches the one this server signs with' };
}

function checkDmarc(record: DnsRecordSpec, dns: DnsAnswers): Verdict {
  const answer = dns.answers.get(key('TXT', record.host))!;
  const none = `no DMARC record at ${record.host}: receivers get no policy for this domain and send no reports`;
  if (!answer.ok) return answer.code === 'ENOTFOUND' ? { status: 'missing', found: null, explanation: none } : failed(answer, record.host, none);
  const records = txtStrings(answer).filter((r) => /^v=DMARC1\b/i.test(r));
  const found = records.length ? records.join('\n') : null;
  if (records.length === 0) return { status: 'missing', found, explanation: none };
  if (records.length > 1) return { status: 'wrong', found, explanation: 'two DMARC records: receivers ignore both; keep one' };
  const p = tags(records[0]).p?.toLowerCase();
  if (!p) return { status: 'wrong', found, explanation: 'the DMARC record has no policy (p=): receivers ignore it' };
  if (p === 'none') return { status: 'ok', found, explanation: 'DMARC is published with p=none (reports only): once the reports show only your own servers, tighten it to p=quarantine, later p=reject' };
  if (p === 'quarantine') return { status: 'ok', found, explanation: 'DMARC asks receivers to treat failing mail as spam (p=quarantine); p=reject is the last step' };
  if (p === 'reject') return { status: 'ok', found, explanation: 'DMARC asks receivers to refuse mail that fails (p=reject)' };
  return { status: 'wrong', found, explanation: `the DMARC policy p=${p} is not one of none, quarantine, reject: receivers ignore the record` };
}

function checkCname(record: DnsRecordSpec, dns: DnsAnswers): Verdict {
  const answer = dns.answers.get(key('CNAME', record.host))!;
  const none = `no CNAME at ${record.host}: publish it pointing to ${record.value}`;
  if (!answer.ok) return answer.code === 'ENOTFOUND' ? { status: 'missing', found: null, explanation: none } : failed(answer, record.host, none);
  const target = asciiName((answer.value as string[])[0] ?? '');
  if (target === asciiName(record.value)) return { status: 'ok', found: target, explanation: `${record.host} points to ${target}` };
  return { status: 'wrong', found: target, explanation: `${record.host} points to ${target}, not to ${asciiName(record.value)}` };
}

/** Pure: the answers as one verdict per expected record (same order). */
export function evaluateRecords(expected: DnsRecordSpec[], dns: DnsAnswers, settings: CheckSettings): RecordCheck[] {
  const mailHost = asciiName(settings.mailHost);
  return expected.map((record) => {
    let verdict: Verdict;
    if (record.purpose === 'mx') verdict = checkMx(record, dns, mailHost);
    else if (record.purpose === 'mail-host') verdict = checkMailHost(record, dns);
    else if (record.purpose === 'spf') verdict = checkSpf(record, dns, settings);
    else if (record.purpose === 'dkim') verdict = checkDkim(record, dns);
    else if (record.purpose === 'dmarc') verdict = checkDmarc(record, dns);
    else verdict = checkCname(record, dns);
    return { ...record, ...verdict };
  });
}

/** Both steps: what DNS says about each record now. */
export async function checkRecords(resolver: DnsResolver, domain: Pick<Domain, 'name' | 'dkim' | 'sendgrid'>, settings: CheckSettings): Promise<RecordCheck[]> {
  const expected = expectedRecords(domain, settings);
  return evaluateRecords(expected, await lookupRecords(resolver, expected, settings, domain.name), settings);
}
