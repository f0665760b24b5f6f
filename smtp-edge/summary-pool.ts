import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../adapters/thread';
import type { MessageSummary } from '../core/types';

/** How many bytes may be on their way to the parser thread before the edge stops reading. */
const MAX_IN_FLIGHT = 1024 * 1024;

export type SummaryParserFactory = () => { input: Writable; summary: Promise<MessageSummary> };

interface Job {
  resolve(summary: MessageSummary): void;
  inFlight: number;
  resume: (() => void) | null;
}

const unavailable = (): MessageSummary => ({ from: null, to: [], cc: [], subject: '', date: null, messageId: null, attachments: [], snippet: '', parseError: 'parser unavailable' });

/**
 * Runs the summary parser (core/mime.ts) on a thread of its own; same interface as
 * createSummaryParser. Chunks are copied across with flow control, so a 25 MB message
 * is never queued whole. If the thread dies, messages in flight get an empty summary
 * with `parseError` (their raw bytes are still kept) and a new thread is started.
 */
export class SummaryPool {
  private thread!: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private closing = false;

  constructor() {
    this.start();
  }

  private start(): void {
    // a small young generation: parsing a big message makes much short-lived garbage, which
    // would otherwise grow this thread's heap (and the process's RSS) before it is collected
    this.thread = startThread(__dirname, 'summary-thread', __filename, {}, { maxYoungGenerationSizeMb: 8 });
    this.thread.on('message', (m: { id: number; ack?: number; summary?: MessageSummary }) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      if (m.summary) {
        // the parser may finish early (a message it cannot read): release a writer waiting for acks
        this.jobs.delete(m.id);
        job.resolve(m.summary);
        job.resume?.();
        return;
      }
      job.inFlight -= m.ack ?? 0;
      if (job.resume && job.inFlight < MAX_IN_FLIGHT) {
        const resume = job.resume;
        job.resume = null;
        resume();
      }
    });
    const failed = () => {
      for (const job of this.jobs.values()) {
        job.resolve(unavailable());
        job.resume?.();
      }
      this.jobs.clear();
      if (!this.closing) this.start();
    };
    this.thread.on('error', failed);
    this.thread.on('exit', () => {
      if (!this.closing) failed();
    });
  }

  readonly createParser: SummaryParserFactory = () => {
    const id = this.nextId++;
    const thread = this.thread;
    let job!: Job;
    const summary = new Promise<MessageSummary>((resolve) => {
      job = { resolve, inFlight: 0, resume: null };
    });
    this.jobs.set(id, job);
    thread.postMessage({ t: 's', id });
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
      // also runs after a normal end (autoDestroy): only an early end aborts the parse
      destroy: (err, callback) => {
        if ((err || !ended) && this.jobs.delete(id)) thread.postMessage({ t: 'a', id });
        callback(err);
      },
    });
    return { input, summary };
  };

  async close(): Promise<void> {
    this.closing = true;
    await this.thread.terminate();
  }
}
