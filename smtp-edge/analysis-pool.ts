import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../adapters/thread';
import type { Logger } from '../core/logger';
import type { DnsResolver } from '../core/ports';
import type { MessageSummary } from '../core/types';
import { summarize } from '../core/drafts';
import { temperror, type AuthOutcome } from './inbound-auth';
import type { AuthClient, MessageAnalysis, MessageAnalyzer } from './message-analysis';

/** How many bytes may be on their way to the analysis thread before the edge stops reading. */
const MAX_IN_FLIGHT = 1024 * 1024;
/**
 * Chunks are gathered into pieces of this size before they cross: smtp-server hands
 * over a small slice per escape dot, and every message that crosses a thread costs
 * the same whatever it carries.
 */
const BATCH_BYTES = 64 * 1024;
/**
 * A message whose analysis has not finished this long after its last byte, or whose
 * writer has waited this long for the thread to take more, means the thread is stuck:
 * it is replaced.
 */
const STUCK_AFTER_MS = 120_000;

interface Job {
  resolveSummary(summary: MessageSummary): void;
  resolveAuth: ((outcome: AuthOutcome) => void) | null;
  summaryDone: boolean;
  inFlight: number;
  resume: (() => void) | null;
  /** All bytes are in (final). */
  ended: boolean;
  /** Set while the writer waits for the thread, and after the last byte (see watch). */
  stuckTimer: NodeJS.Timeout | null;
}

/** What a message gets when the analysis thread died or was stuck: its raw bytes are kept; the summary is empty. */
export const PARSER_UNAVAILABLE = 'parser unavailable';
const unavailable = (): MessageSummary => ({ from: null, to: [], cc: [], subject: '', date: null, messageId: null, attachments: [], snippet: '', parseError: PARSER_UNAVAILABLE });

export interface AnalysisPoolOptions {
  /** Inbound authentication: the resolver the thread's DNS questions go to (the edge's; the thread caches the answers); null: none. */
  auth: { resolver: DnsResolver; hostname: string; deadlineMs: number } | null;
  logger: Logger;
  /** Tests: how long after its last byte a message may take before the thread counts as stuck. */
  stuckAfterMs?: number;
}

/**
 * Runs the message analysis (message-analysis.ts: mailparser for the summary, mailauth
 * for SPF/DKIM/ARC/DMARC) on a thread of its own, behind the same MessageAnalyzer
 * interface as inProcessAnalyzer. Chunks are copied across with flow control, so a
 * 25 MB message is never queued whole. The thread's DNS questions are answered here
 * by the edge's resolver. If the thread dies, messages in flight get an empty summary
 * with `parseError` and `temperror` authentication (their raw bytes are still kept),
 * and a new thread is started.
 */
export class AnalysisPool {
  private thread!: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private closing = false;
  /** The current thread has loaded its code; until then messages that ended wait here to be timed. */
  private ready = false;
  private untimed: number[] = [];

  constructor(private readonly opts: AnalysisPoolOptions) {
    this.start();
  }

  private start(): void {
    const auth = this.opts.auth ? { hostname: this.opts.auth.hostname, deadlineMs: this.opts.auth.deadlineMs } : null;
    // a small young generation: parsing a big message makes much short-lived garbage, which
    // would otherwise grow this thread's heap (and the process's RSS) before it is collected
    // (the launchers' --max-semi-space-size overrides this limit: core/node-flags.ts)
    const thread = startThread(__dirname, 'analysis-thread', __filename, { auth }, { maxYoungGenerationSizeMb: 8 });
    this.thread = thread;
    this.ready = false;
    thread.on('message', (m: { t?: string; id: number; ack?: number; summary?: MessageSummary; auth?: AuthOutcome; q?: number; method?: keyof DnsResolver; name?: string; obj?: Record<string, unknown>; msg?: string }) => {
      if (m.t === 'dns') return this.answer(thread, m.q!, m.method!, m.name!);
      if (m.t === 'log') return this.opts.logger.warn(m.obj ?? {}, m.msg ?? 'analysis thread');
      if (m.t === 'ready') {
        this.ready = true;
        for (const id of this.untimed.splice(0)) this.watch(thread, id);
        return;
      }
      const job = this.jobs.get(m.id);
      if (!job) return;
      // a message's summary and verdict come together after its last byte; a summary may come early alone
      if (m.summary) {
        // the parser may finish early (a message it cannot read): release a writer waiting for acks
        job.summaryDone = true;
        job.resolveSummary(m.summary);
        job.resume?.();
        job.resume = null;
      }
      if (m.auth) {
        job.resolveAuth?.(m.auth);
        job.resolveAuth = null;
      }
      if (m.ack !== undefined) {
        job.inFlight -= m.ack ?? 0;
        if (job.resume && job.inFlight < MAX_IN_FLIGHT) {
          const resume = job.resume;
          job.resume = null;
          if (!job.ended) this.unwatch(job); // it moves again
          resume();
        }
      }
      if (job.summaryDone && !job.resolveAuth) {
        this.unwatch(job);
        this.jobs.delete(m.id);
      }
    });
    const failed = () => {
      this.untimed = [];
      for (const job of this.jobs.values()) {
        this.unwatch(job);
        job.resolveSummary(unavailable());
        job.resolveAuth?.(temperror(this.opts.auth?.hostname ?? 'localhost', 'analysis unavailable'));
        job.resume?.();
      }
      this.jobs.clear();
      if (!this.closing) this.start();
    };
    thread.on('error', failed);
    thread.on('exit', () => {
      if (!this.closing && this.thread === thread) failed();
    });
  }

  /**
   * The thread must finish a message within STUCK_AFTER_MS of its last byte (the lookups
   * have their own, shorter deadline), and take more of it within as long while its
   * writer waits; if not, it is stuck on something (a pathological message), and it is
   * replaced: every message in flight then gets what a dead thread gives.
   */
  private watch(thread: Worker, id: number): void {
    const job = this.jobs.get(id);
    if (!job) return;
    if (!this.ready) {
      this.untimed.push(id);
      return;
    }
    this.unwatch(job);
    job.stuckTimer = setTimeout(() => {
      if (!this.jobs.has(id) || this.thread !== thread) return;
      this.opts.logger.error({ jobs: this.jobs.size }, 'analysis thread stuck; replacing it');
      void thread.terminate();
    }, this.opts.stuckAfterMs ?? STUCK_AFTER_MS);
    job.stuckTimer.unref();
  }

  private unwatch(job: Job): void {
    if (job.stuckTimer) clearTimeout(job.stuckTimer);
    job.stuckTimer = null;
  }

  /** A DNS question from the thread, answered with the edge's resolver; errors keep their node:dns code. */
  private answer(thread: Worker, q: number, method: keyof DnsResolver, name: string): void {
    const resolver = this.opts.auth?.resolver;
    const lookup = resolver && typeof resolver[method] === 'function' ? (resolver[method] as (n: string) => Promise<unknown>).call(resolver, name) : Promise.reject(Object.assign(new Error('no resolver'), { code: 'EUNKNOWN' }));
    lookup.then(
      (value) => thread.postMessage({ t: 'dnsr', q, value }),
      (err: { code?: unknown }) => thread.postMessage({ t: 'dnsr', q, error: { code: typeof err?.code === 'string' ? err.code : 'EUNKNOWN' } }),
    );
  }

  readonly analyze: MessageAnalyzer = (client: AuthClient | null): MessageAnalysis => {
    const id = this.nextId++;
    const thread = this.thread;
    const wantsAuth = Boolean(client && this.opts.auth);
    let job!: Job;
    const summary = new Promise<MessageSummary>((resolve) => {
      job = { resolveSummary: resolve, resolveAuth: null, summaryDone: false, inFlight: 0, resume: null, ended: false, stuckTimer: null };
    });
    const authOutcome = wantsAuth ? new Promise<AuthOutcome>((resolve) => (job.resolveAuth = resolve)) : null;
    this.jobs.set(id, job);
    let ended = false;
    /** The thread has heard of this message: its first piece went. */
    let started = false;
    /** The thread has been told how the message ends (its last piece, or 'a'), or never needs to be. */
    let told = false;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    /**
     * Sends what is gathered as one right-sized copy, transferred (a slice sent as is would
     * copy its whole parent buffer). The first piece starts the message on the thread and
     * the last one ends it, so a small message crosses in one postMessage.
     */
    const flush = (end: boolean) => {
      if (!batchBytes && !end) return;
      const piece: { t: 'c'; id: number; data?: Uint8Array; start?: AuthClient | null; end?: true } = { t: 'c', id };
      if (!started) piece.start = wantsAuth ? client : null;
      started = true;
      if (end) piece.end = true;
      if (!batchBytes) return void thread.postMessage(piece);
      const data = new Uint8Array(batchBytes);
      let at = 0;
      for (const chunk of batch) {
        data.set(chunk, at);
        at += chunk.length;
      }
      // the last piece is not acknowledged: nothing waits for room once the message has ended
      if (!end) job.inFlight += batchBytes;
      batch = [];
      batchBytes = 0;
      piece.data = data;
      thread.postMessage(piece, [data.buffer]);
    };
    const input = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (!this.jobs.has(id)) return callback();
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= BATCH_BYTES) flush(false);
        if (job.inFlight < MAX_IN_FLIGHT) callback();
        else {
          job.resume = () => callback();
          if (!job.stuckTimer) this.watch(thread, id);
        }
      },
      final: (callback) => {
        ended = true;
        told = true;
        job.ended = true;
        if (this.jobs.has(id)) {
          flush(true);
          this.watch(thread, id);
        } else if (started) thread.postMessage({ t: 'a', id }); // its summary came early (a message the parser gave up on): the thread forgets it
        callback();
      },
      // also runs after a normal end (autoDestroy): only an early end aborts the analysis
      destroy: (err, callback) => {
        if ((err || !ended) && !told) {
          told = true;
          if (started) thread.postMessage({ t: 'a', id });
          if (this.jobs.delete(id)) {
            this.unwatch(job);
            job.resolveAuth?.(temperror(this.opts.auth?.hostname ?? 'localhost', 'message not received whole'));
          }
        }
        callback(err);
      },
    });
    return { input, summary, auth: authOutcome ? () => authOutcome : null };
  };

  /** The summary of a whole message (the ones the API composes); in the calling thread if this thread could not make it. */
  async summarize(raw: Buffer): Promise<MessageSummary> {
    const analysis = this.analyze(null);
    // in pieces taken with flow control (views of `raw`, not copies)
    for (let at = 0; at < raw.length; at += BATCH_BYTES) analysis.input.write(raw.subarray(at, at + BATCH_BYTES));
    analysis.input.end();
    const summary = await analysis.summary;
    return summary.parseError === PARSER_UNAVAILABLE ? summarize(raw) : summary;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.thread.terminate();
  }
}
