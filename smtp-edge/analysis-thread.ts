import type { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { CachingResolver, DnsError } from '../core/dns';
import { loadMailauth } from '../core/mailauth';
import { loadMailparser } from '../core/mime';
import type { Logger } from '../core/logger';
import type { DnsResolver } from '../core/ports';
import type { MessageSummary } from '../core/types';
import type { AuthOutcome } from './inbound-auth';
import { inProcessAnalyzer, type AuthClient } from './message-analysis';

/**
 * The analysis thread behind AnalysisPool: per message in flight, mailparser (the
 * summary) and, for mail from outside, mailauth (SPF, DKIM, ARC, DMARC). Its event
 * loop does nothing else, so this work runs on the second core and the main thread
 * only speaks SMTP and streams bytes. DNS questions go to the main thread, which owns
 * the resolver; answers come back as messages and are kept a minute here.
 */
type Msg =
  // a piece of a message: the first starts it (`start`: who sent it, null: no authentication), the last ends it
  | { t: 'c'; id: number; data?: Uint8Array; start?: AuthClient | null; end?: true }
  | { t: 'a'; id: number }
  | { t: 'dnsr'; q: number; value?: unknown; error?: { code: string } };

const port = parentPort!;
const DNS_CACHE_MS = 60_000;
const options = workerData as { auth: { hostname: string; deadlineMs: number } | null };
const inputs = new Map<number, Writable>();
const authResults = new Map<number, () => Promise<AuthOutcome>>();
const summaries = new Map<number, Promise<MessageSummary>>();
/** Bytes written but not yet acknowledged because the analysis asked to wait (one 'drain' listener per message). */
const unacked = new Map<number, number>();

/**
 * The DnsResolver port, answered by the main thread, behind a cache here: many messages
 * from one sender domain ask the same SPF/DKIM/DMARC questions, and an answer kept on
 * this side of the thread boundary costs no messages across it (a minute, as a local resolver would).
 */
const questions = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void; name: string; rrtype: string }>();
let nextQuestion = 1;
const ask = (method: keyof DnsResolver, rrtype: string) => (name: string) =>
  new Promise<any>((resolve, reject) => {
    const q = nextQuestion++;
    questions.set(q, { resolve, reject, name, rrtype });
    port.postMessage({ t: 'dns', q, method, name });
  });
const resolver: DnsResolver = new CachingResolver(
  {
    resolveMx: ask('resolveMx', 'MX'),
    resolveTxt: ask('resolveTxt', 'TXT'),
    resolveCname: ask('resolveCname', 'CNAME'),
    resolve4: ask('resolve4', 'A'),
    resolve6: ask('resolve6', 'AAAA'),
    resolvePtr: ask('resolvePtr', 'PTR'),
  },
  DNS_CACHE_MS,
);

/** The verifier logs only warnings; they go to the main thread's logger. */
const logger = {
  warn: (obj: Record<string, unknown>, msg?: string) => port.postMessage({ t: 'log', obj: JSON.parse(JSON.stringify(obj, (_k, v) => (v instanceof Error ? v.message : v))), msg }),
} as unknown as Logger;

const analyze = inProcessAnalyzer(options.auth ? { resolver, hostname: options.auth.hostname, deadlineMs: options.auth.deadlineMs, logger } : null);

function forget(id: number): void {
  inputs.delete(id);
  authResults.delete(id);
  summaries.delete(id);
  unacked.delete(id);
}

port.on('message', (m: Msg) => {
  if (m.t === 'dnsr') {
    const question = questions.get(m.q);
    if (!question) return;
    questions.delete(m.q);
    if (m.error) question.reject(DnsError.from(m.error, question.name, question.rrtype));
    else question.resolve(m.value);
    return;
  }
  if (m.t === 'a') {
    inputs.get(m.id)?.destroy();
    forget(m.id);
    return;
  }
  if (m.start !== undefined) start(m.id, m.start);
  const input = inputs.get(m.id);
  if (!input) return;
  if (m.data) write(m.id, input, m.data, !m.end);
  if (m.end) {
    input.end();
    // the lookup deadline runs from the last byte, as in the edge's own thread
    const auth = authResults.get(m.id)?.();
    const summary = summaries.get(m.id); // absent: it went early (see start)
    forget(m.id);
    // summary and verdict in one message back (the edge waits for both)
    if (summary || auth) Promise.all([summary, auth]).then(([s, a]) => port.postMessage({ id: m.id, ...(s ? { summary: s } : {}), ...(a ? { auth: a } : {}) }));
  }
});

function start(id: number, client: AuthClient | null): void {
  const analysis = analyze(client);
  inputs.set(id, analysis.input);
  summaries.set(id, analysis.summary);
  if (analysis.auth) authResults.set(id, analysis.auth);
  analysis.summary.then((summary) => {
    // ready before the last byte (a message the parser gave up on): it goes at once, so a writer waiting for room stops waiting
    if (!summaries.has(id)) return;
    summaries.delete(id);
    port.postMessage({ id, summary });
  });
}

/** Writes a piece; `acknowledge`: the edge waits for room (not for the last piece), told once the analysis has taken it. */
function write(id: number, input: Writable, data: Uint8Array, acknowledge: boolean): void {
  const bytes = data.byteLength;
  const ack = () => acknowledge && port.postMessage({ id, ack: bytes });
  if (input.destroyed || input.writableEnded) return void ack();
  const waiting = unacked.get(id);
  const accepted = input.write(Buffer.from(data.buffer, data.byteOffset, bytes));
  if (!acknowledge) return;
  if (waiting !== undefined) unacked.set(id, waiting + bytes);
  else if (accepted) ack();
  else {
    unacked.set(id, bytes);
    input.once('drain', () => {
      port.postMessage({ id, ack: unacked.get(id) ?? 0 });
      unacked.delete(id);
    });
  }
}

// mailparser and mailauth load when first used elsewhere; here before the pool starts timing
loadMailparser();
if (options.auth) loadMailauth();
// loaded: from now on the pool times this thread's work (a cold start is not a hang)
port.postMessage({ t: 'ready' });
