import { PassThrough, Writable } from 'node:stream';
import { arc, dkimVerify, dmarc, spf, type ARCResult, type DKIMResult, type DKIMVerifyResult, type DMARCResult, type SPFResult } from '../core/mailauth';
import { mailauthResolver } from '../core/dns';
import type { Logger } from '../core/logger';
import type { DnsResolver } from '../core/ports';
import { whenWritable } from '../core/streams';
import type { AuthResults } from '../core/types';

export interface InboundAuthOptions {
  /** Through a short cache (CachingResolver): many messages ask the same questions. */
  resolver: DnsResolver;
  /** This host: the authserv-id of the Authentication-Results header. */
  hostname: string;
  /** After the last byte, how long the remaining lookups may take before what is missing counts as temperror. */
  deadlineMs: number;
  logger: Logger;
}

/** What the edge learns: the result words, the DMARC policy, and the header this host adds. */
export interface AuthOutcome {
  auth: AuthResults;
  /** `Authentication-Results: <host>; ...\r\n`, kept beside the raw bytes (rawPrefix). */
  header: string;
}

/** The header block that mailauth holds in memory is capped: a message whose header never ends is not authenticated. */
export const MAX_AUTH_HEADER_BYTES = 1024 * 1024;

const DKIM_ORDER = ['pass', 'fail', 'temperror', 'permerror', 'neutral', 'none'];

/**
 * RFC 6376 6.1.3: a body hash that does not verify is PERMFAIL, which RFC 8601
 * writes `fail`; mailauth says `neutral` for it, so it is corrected here (word and header row).
 */
function normalizeDkim(row: DKIMResult): { result: string; info: string } {
  let result: string = row.status.result;
  let info = row.info ?? `dkim=${result}`;
  if (result === 'neutral' && row.status.comment === 'body hash did not verify') {
    result = 'fail';
    info = info.replace(/^dkim=neutral/, 'dkim=fail');
  }
  if (result === 'policy') result = 'neutral'; // a weak key: not a pass, not proof of forgery
  return { result, info };
}

/** One word for all signatures: pass if any signature passed, else the most telling failure. */
function dkimWord(rows: Array<{ result: string }>): string {
  if (!rows.length) return 'none';
  return rows.map((r) => r.result).sort((a, b) => rank(a) - rank(b))[0];
}
const rank = (word: string) => (DKIM_ORDER.includes(word) ? DKIM_ORDER.indexOf(word) : DKIM_ORDER.length);

type DmarcPolicy = NonNullable<AuthResults['dmarcPolicy']>;
const isPolicy = (p: unknown): p is DmarcPolicy => p === 'none' || p === 'quarantine' || p === 'reject';

/**
 * The policy enacted on a message that fails DMARC, after the record's `pct` (RFC 7489 6.6.4):
 * the published policy applies to at most that percent of failing messages, drawn at random;
 * one left out is treated a step lower (reject as quarantine, quarantine as none). `pct` is read
 * from the record's text (`record`), since mailauth reads an invalid value as 0: an absent or
 * invalid `pct` is 100, every message.
 */
export function sampledPolicy(policy: DmarcPolicy, record: unknown, draw: () => number = Math.random): DmarcPolicy {
  const pct = typeof record === 'string' ? /(?:^|;)\s*pct\s*=\s*(\d{1,3})\s*(?:;|$)/i.exec(record) : null;
  const percent = pct && Number(pct[1]) <= 100 ? Number(pct[1]) : 100;
  if (policy === 'none' || percent === 100 || draw() * 100 < percent) return policy;
  return policy === 'reject' ? 'quarantine' : 'none';
}

/** Resolves with `fallback` if `work` takes longer than `ms` (or fails). */
function within<T, F>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}

/**
 * SPF, DKIM, ARC and DMARC of one inbound message with mailauth, while it streams:
 * SPF (connecting IP, HELO, MAIL FROM) starts at once; DKIM/ARC hash the message as
 * its bytes are written to `input` (mailauth keeps only the header block, up to
 * MAX_AUTH_HEADER_BYTES); DMARC and ARC's verdict follow the last byte. Every
 * lookup goes through the injected resolver. Never rejects: DNS trouble and
 * anything unexpected become `temperror`, so authentication can never lose a message.
 */
export function startInboundAuth(opts: InboundAuthOptions, client: { ip: string; helo: string; sender: string }): { input: Writable; result: () => Promise<AuthOutcome> } {
  const resolver = mailauthResolver(opts.resolver);
  const mta = opts.hostname;
  const helo = client.helo || client.ip;
  const spfRun: Promise<SPFResult | null> = spf({ sender: client.sender || undefined, ip: client.ip.replace(/^::ffff:/, ''), helo, mta, resolver }).catch((err) => {
    opts.logger.warn({ err }, 'SPF check failed');
    return null;
  });

  const sink = new PassThrough(); // what mailauth's verifier reads
  const input = headerGate(sink);
  const dkimRun: Promise<DKIMVerifyResult | null> = dkimVerify(sink, { resolver, sender: client.sender || undefined }).catch((err) => {
    opts.logger.warn({ err: (err as Error).message }, 'DKIM verification stopped');
    sink.destroy(); // nothing reads it any more: the writer must not wait for a drain
    return null;
  });

  const full = (async (): Promise<AuthOutcome> => {
    const dkimResult = await dkimRun;
    const r = await (async () => {
      const spfResult = await spfRun;
      const arcResult: ARCResult | null = dkimResult ? await arc((dkimResult as DKIMVerifyResult & { arc: Parameters<typeof arc>[0] }).arc, { resolver }).catch(() => null) : null;
      const dkimRows = (dkimResult?.results ?? []).map(normalizeDkim);
      let dmarcResult: DMARCResult | false = false;
      if (dkimResult?.headerFrom?.length) {
        dmarcResult = await dmarc({
          headerFrom: dkimResult.headerFrom,
          spfDomains: spfResult?.status.result === 'pass' && spfResult.domain ? [spfResult.domain] : [],
          dkimDomains: (dkimResult.results ?? []).filter((r) => r.status.result === 'pass').map((r) => ({ id: r.id, domain: r.signingDomain, aligned: r.status.aligned, underSized: r.status.underSized })),
          arcResult: arcResult ?? undefined,
          resolver,
        } as Parameters<typeof dmarc>[0]).catch(() => false as const);
      }
      return { spfResult, arcResult, dkimRows, dmarcResult };
    })();
    const words: AuthResults = {
      spf: r.spfResult?.status.result ?? 'temperror',
      dkim: dkimResult ? dkimWord(r.dkimRows) : 'permerror',
      dmarc: r.dmarcResult ? r.dmarcResult.status.result : dkimResult ? (dkimResult.headerFrom?.length ? 'temperror' : 'none') : 'permerror',
      arc: r.arcResult?.status.result ?? (dkimResult ? 'none' : 'permerror'),
      dmarcPolicy: r.dmarcResult && isPolicy(r.dmarcResult.policy) ? sampledPolicy(r.dmarcResult.policy, r.dmarcResult.rr) : null,
    };
    const rows = [
      ...(r.dkimRows.length ? r.dkimRows.map((d) => d.info) : [`dkim=${words.dkim}`]),
      r.spfResult?.info ?? `spf=${words.spf}`,
      r.arcResult?.info ?? `arc=${words.arc}`,
      r.dmarcResult ? r.dmarcResult.info : `dmarc=${words.dmarc}`,
    ];
    return { auth: words, header: formatHeader(mta, rows) };
  })();
  full.catch(() => undefined); // awaited through result(); never unhandled
  // the deadline runs from when the edge asks (after the last byte), not from the start of DATA
  const result = () =>
    within(full, opts.deadlineMs, null).then((outcome) => {
      if (outcome) return outcome;
      opts.logger.warn({ deadlineMs: opts.deadlineMs }, 'authentication lookups timed out; recorded as temperror');
      return temperror(mta, 'DNS timed out');
    });
  return { input, result };
}

/** Folded rows under this host's authserv-id; nothing in them can end the header (mailauth escapes comments, CR/LF are removed). */
function formatHeader(mta: string, rows: string[]): string {
  const clean = rows.map((row) => row.replace(/\r?\n(?![ \t])/g, ' ').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, ''));
  return `Authentication-Results: ${mta};\r\n ${clean.join(';\r\n ')}\r\n`;
}

export function temperror(mta: string, why: string): AuthOutcome {
  const auth: AuthResults = { spf: 'temperror', dkim: 'temperror', dmarc: 'temperror', arc: 'temperror', dmarcPolicy: null };
  return { auth, header: formatHeader(mta, [`dkim=temperror (${why})`, `spf=temperror (${why})`, `arc=temperror (${why})`, `dmarc=temperror (${why})`]) };
}

/** A header field whose check needs the body (DKIM and ARC hash it); without one, the header block is enough. */
export const SIGNATURE_FIELD = /^(dkim-signature|arc-seal|arc-message-signature)[ \t]*:/im;

/**
 * What the edge writes into: passes the message on to the verifier, but only as far
 * as the verifier needs it. An unsigned message (no DKIM-Signature, no ARC fields) is
 * authenticated on its header block alone (From for DMARC; SPF needs no content), so
 * its body is not scanned at all; a signed one goes through whole (the body hashes).
 * A header block over MAX_AUTH_HEADER_BYTES stops the verifier (permerror).
 */
/** Where the first blank line (LF LF or LF CR LF, as /\r?\n\r?\n/ finds it) ends in `buf`, or -1. */
export function blankLineEnd(buf: Buffer): number {
  for (let p = buf.indexOf(0x0a); p !== -1; p = buf.indexOf(0x0a, p + 1)) {
    if (buf[p + 1] === 0x0a) return p + 2;
    if (buf[p + 1] === 0x0d && buf[p + 2] === 0x0a) return p + 3;
  }
  return -1;
}

function headerGate(sink: PassThrough): Writable {
  let mode: 'header' | 'body' | 'skip' = 'header';
  // the header block so far, and its last two bytes (a blank line can straddle two chunks);
  // each chunk is searched once, so a header sent in tiny pieces costs no more than in one
  let header: Buffer[] = [];
  let headerBytes = 0;
  let tail = Buffer.alloc(0);
  // a verifier that stopped (an error) never drains: its close releases the writer too
  const forward = (chunk: Buffer, callback: (err?: Error | null) => void) => {
    const wait = whenWritable(sink, chunk);
    if (wait) wait.then(() => callback());
    else callback();
  };
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (mode === 'skip') return callback();
      if (mode === 'body') return forward(chunk, callback);
      const before = headerBytes;
      const probe = tail.length ? Buffer.concat([tail, chunk]) : chunk;
      const end = blankLineEnd(probe);
      header.push(chunk);
      headerBytes += chunk.length;
      const headerEnd = end < 0 ? -1 : before - tail.length + end;
      if (headerEnd < 0 || headerEnd > MAX_AUTH_HEADER_BYTES) {
        if (headerBytes > MAX_AUTH_HEADER_BYTES) {
          mode = 'skip';
          header = [];
          sink.destroy(new Error('header block too large to authenticate'));
          return callback();
        }
        tail = Buffer.from(probe.subarray(Math.max(0, probe.length - 2)));
        return forward(chunk, callback);
      }
      const signed = SIGNATURE_FIELD.test(Buffer.concat(header, headerBytes).toString('latin1', 0, headerEnd));
      header = [];
      if (signed) {
        mode = 'body';
        return forward(chunk, callback);
      }
      mode = 'skip';
      forward(chunk.subarray(0, headerEnd - before), (err) => {
        sink.end();
        callback(err);
      });
    },
    final(callback) {
      if (!sink.writableEnded && !sink.destroyed) sink.end();
      callback();
    },
    destroy(err, callback) {
      if (!sink.writableEnded) sink.destroy(err ?? undefined);
      callback(err);
    },
  });
}
