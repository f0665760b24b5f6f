import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../adapters/thread';
import type { Logger } from '../core/logger';
import type { DnsResolver } from '../core/ports';
import type { MessageSummary } from '../core/types';
import { temperror, type AuthOutcome } from './inbound-auth';
import type { AuthClient, MessageAnalysis, MessageAnalyzer } from './message-analysis';

/** How many bytes may be on their way to the analysis thread before the edge stops reading. */
const MAX_IN_FLIGHT = 1024 * 1024;

interface Job {
  resolveSummary(summary: MessageSummary): void;
  resolveAuth: ((outcome: AuthOutcome) => void) | null;
  summaryDone: boolean;
  inFlight: number;
  resume: (() => void) | null;
}

const unavailable = (): MessageSummary => ({ from: null, to: [], cc: [], subject: '', date: null, messageId: null, attachments: [], snippet: '', parseError: 'parser unavailable' });

export interface AnalysisPoolOptions {
  /** Inbound authentication: the resolver the thread's DNS questions go to (the edge's, with its cache); null: none. */
  auth: { resolver: DnsResolver; hostname: string; deadlineMs: number } | null;
  logger: Logger;
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

  constructor(private readonly opts: AnalysisPoolOptions) {
    this.start();
  }

  private start(): void {
    const auth = this.opts.auth ? { hostname: this.opts.auth.hostname, deadlineMs: this.opts.auth.deadlineMs } : null;
    // a small young generation: parsing a big message makes much short-lived garbage, which
    // would otherwise grow this thread's heap (and the process's RSS) before it is collected
    const thread = startThread(__dirname, 'analysis-thread', __filename, { auth }, { maxYoungGenerationSizeMb: 8 });
    this.thread = thread;
    thread.on('message', (m: { t?: string; id: number; ack?: number; summary?: MessageSummary; auth?: AuthOutcome; q?: number; method?: keyof DnsResolver; name?: string; obj?: Record<string, unknown>; msg?: string }) => {
      if (m.t === 'dns') return this.answer(thread, m.q!, m.method!, m.name!);
      if (m.t === 'log') return this.opts.logger.warn(m.obj ?? {}, m.msg ?? 'analysis thread');
      const job = this.jobs.get(m.id);
      if (!job) return;
      if (m.summary) {
        // the parser may finish early (a message it cannot read): release a writer waiting for acks
        job.summaryDone = true;
        job.resolveSummary(m.summary);
        job.resume?.();
        job.resume = null;
      } else if (m.auth) {
        job.resolveAuth?.(m.auth);
        job.resolveAuth = null;
      } else {
        job.inFlight -= m.ack ?? 0;
        if (job.resume && job.inFlight < MAX_IN_FLIGHT) {
          const resume = job.resume;
          job.resume = null;
          resume();
        }
      }
      if (job.summaryDone && !job.resolveAuth) this.jobs.delete(m.id);
    });
    const failed = () => {
      for (const job of this.jobs.values()) {
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
      job = { resolveSummary: resolve, resolveAuth: null, summaryDone: false, inFlight: 0, resume: null };
    });
    const authOutcome = wantsAuth ? new Promise<AuthOutcome>((resolve) => (job.resolveAuth = resolve)) : null;
    this.jobs.set(id, job);
    thread.postMessage({ t: 's', id, client: wantsAuth ? client : null });
    let ended = false;
    const input = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (!this.jobs.has(id)) return callback();
        job.inFlight += chunk.length;
        thread.postMessage({ t: 'c', id, data: chunk });
        if (job.inFlight < MAX_IN_FLIGHT) callback();
        else job.resume = () => callback();
      },
      final: (callback) => {
        ended = true;
        if (this.jobs.has(id)) thread.postMessage({ t: 'e', id });
        callback();
      },
      // also runs after a normal end (autoDestroy): only an early end aborts the analysis
      destroy: (err, callback) => {
        if ((err || !ended) && this.jobs.delete(id)) {
          thread.postMessage({ t: 'a', id });
          job.resolveAuth?.(temperror(this.opts.auth?.hostname ?? 'localhost', 'message not received whole'));
        }
        callback(err);
      },
    });
    return { input, summary, auth: authOutcome ? () => authOutcome : null };
  };

  async close(): Promise<void> {
    this.closing = true;
    await this.thread.terminate();
  }
}
