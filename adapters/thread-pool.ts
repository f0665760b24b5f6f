import type { Worker } from 'node:worker_threads';
import { MailError } from '../core/errors';
import { startThread } from './thread';

interface Pending {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | null;
}

interface Slot {
  thread: Worker;
  waiting: Map<number, Pending>;
  /** The thread has loaded its code; requests are timed from then on (loading from source can take seconds). */
  ready: boolean;
  /** When its last request was answered (or it was sent one, while any is open). */
  lastUsed: number;
}

export interface ThreadPoolOptions {
  /** The thread's module, `<dir>/<name>.js` (or .ts from sources): it posts `{ready: true}` once loaded, then answers each `{id, ...}` with `{id, value}` or `{id, error}`. */
  dir: string;
  name: string;
  callerFile: string;
  size: number;
  timeoutMs: number;
  /** What the work is, for error messages ("password check", "DKIM signing"). */
  label: string;
  /** A thread with nothing to do for this long is stopped (its memory goes back; the next call starts one); default one minute, Infinity never. */
  idleMs?: number;
}

const IDLE_MS = 60_000;

/**
 * Requests to worker threads, dealt round-robin. A thread that dies fails only its own
 * requests (TemporaryFailure: the client may retry) and is replaced on the next call; a
 * request not answered in `timeoutMs` fails too and its thread is replaced, so a stuck
 * thread never leaves a caller hanging. Threads start on first use and stop after `idleMs` with nothing to do.
 */
export class ThreadPool {
  private readonly slots: Array<Slot | null>;
  private nextId = 1;
  private closing = false;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: ThreadPoolOptions) {
    this.slots = new Array<Slot | null>(opts.size).fill(null);
  }

  /** Threads now running (tests: idle ones are stopped). */
  get liveThreads(): number {
    return this.slots.filter(Boolean).length;
  }

  /**
   * Stops the threads idle for `idleMs`: a login thread, say, holds some 10 MB that a server
   * whose users last signed in an hour ago has no use for. Checked every half of `idleMs`.
   */
  private retireIdle(): void {
    const idleMs = this.opts.idleMs ?? IDLE_MS;
    const now = performance.now();
    this.slots.forEach((slot, index) => {
      if (!slot || slot.waiting.size || now - slot.lastUsed < idleMs) return;
      this.slots[index] = null; // before it stops: a call from now on starts a new one
      void slot.thread.terminate();
    });
    if (!this.slots.some(Boolean) && this.idleTimer) {
      clearInterval(this.idleTimer);
      this.idleTimer = null;
    }
  }

  private start(index: number): Slot {
    const { dir, name, callerFile, label } = this.opts;
    const slot: Slot = { thread: startThread(dir, name, callerFile, {}), waiting: new Map(), ready: false, lastUsed: performance.now() };
    const idleMs = this.opts.idleMs ?? IDLE_MS;
    if (Number.isFinite(idleMs)) this.idleTimer ??= setInterval(() => this.retireIdle(), idleMs / 2).unref();
    slot.thread.on('message', (m: { ready?: true; id: number; value?: unknown; error?: string }) => {
      if (m.ready) {
        slot.ready = true;
        for (const [id, w] of slot.waiting) w.timer ??= this.timer(slot, id);
        return;
      }
      const w = slot.waiting.get(m.id);
      if (!w) return;
      slot.waiting.delete(m.id);
      slot.lastUsed = performance.now();
      if (w.timer) clearTimeout(w.timer);
      if (m.error !== undefined) w.reject(new MailError('TemporaryFailure', `${label} failed`, { cause: new Error(m.error) }));
      else w.resolve(m.value);
    });
    const died = (err: Error) => {
      if (this.slots[index] === slot) this.slots[index] = null; // the next call starts a fresh one
      for (const w of slot.waiting.values()) {
        if (w.timer) clearTimeout(w.timer);
        w.reject(new MailError('TemporaryFailure', `${label} unavailable`, { cause: err }));
      }
      slot.waiting.clear();
    };
    slot.thread.on('error', died);
    slot.thread.on('exit', (code) => died(new Error(`${label} thread stopped (exit code ${code})`)));
    return slot;
  }

  /** Sends `{id, ...message}` to a thread; `transfer` moves buffers instead of copying them. */
  call<T>(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closing) return Promise.reject(new MailError('TemporaryFailure', 'shutting down'));
    const id = this.nextId++;
    const index = id % this.slots.length;
    const slot = (this.slots[index] ??= this.start(index));
    slot.lastUsed = performance.now();
    return new Promise<T>((resolve, reject) => {
      slot.waiting.set(id, { resolve, reject, timer: null });
      if (slot.ready) slot.waiting.get(id)!.timer = this.timer(slot, id);
      slot.thread.postMessage({ ...message, id }, transfer);
    });
  }

  private timer(slot: Slot, id: number): NodeJS.Timeout {
    return setTimeout(() => {
      const w = slot.waiting.get(id);
      if (!w) return;
      slot.waiting.delete(id);
      w.reject(new MailError('TemporaryFailure', `${this.opts.label} not answered within ${this.opts.timeoutMs} ms`));
      // a thread that does not answer is not trusted with the next request either
      void slot.thread.terminate();
    }, this.opts.timeoutMs);
  }

  /** Test seam: kills the threads as a crash would. */
  async killThreads(): Promise<void> {
    await Promise.all(this.slots.map((s) => s?.thread.terminate()));
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    await Promise.all(this.slots.map((s) => s?.thread.terminate()));
  }
}
