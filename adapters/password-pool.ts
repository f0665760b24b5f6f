import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { PasswordHasher } from '../core/auth';
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
}

/**
 * bcrypt on worker threads (see PasswordHasher), requests dealt round-robin. A thread
 * that dies fails only its own requests (TemporaryFailure: the client may retry) and
 * is replaced on the next call; a request not answered in `timeoutMs` fails too, so a
 * stuck thread never leaves a login hanging.
 */
export class PasswordPool implements PasswordHasher {
  private readonly slots: Array<Slot | null>;
  private nextId = 1;
  private closing = false;

  /** Threads start on first use: a server that only receives mail never pays for them. */
  constructor(
    size = Math.max(1, Math.min(2, availableParallelism())),
    private readonly timeoutMs = 30_000,
  ) {
    this.slots = new Array<Slot | null>(size).fill(null);
  }

  private start(index: number): Slot {
    const slot: Slot = { thread: startThread(__dirname, 'password-thread', __filename, {}), waiting: new Map(), ready: false };
    slot.thread.on('message', (m: { ready?: true; id: number; value?: unknown; error?: string }) => {
      if (m.ready) {
        slot.ready = true;
        for (const [id, w] of slot.waiting) w.timer ??= this.timer(slot, id);
        return;
      }
      const w = slot.waiting.get(m.id);
      if (!w) return;
      slot.waiting.delete(m.id);
      if (w.timer) clearTimeout(w.timer);
      if (m.error !== undefined) w.reject(new MailError('TemporaryFailure', 'password check failed', { cause: new Error(m.error) }));
      else w.resolve(m.value);
    });
    const died = (err: Error) => {
      if (this.slots[index] === slot) this.slots[index] = null; // the next call starts a fresh one
      for (const w of slot.waiting.values()) {
        if (w.timer) clearTimeout(w.timer);
        w.reject(new MailError('TemporaryFailure', 'password check unavailable', { cause: err }));
      }
      slot.waiting.clear();
    };
    slot.thread.on('error', died);
    slot.thread.on('exit', (code) => died(new Error(`password thread stopped (exit code ${code})`)));
    return slot;
  }

  private call<T>(op: 'hash' | 'verify' | 'burn', password: string, hash?: string): Promise<T> {
    if (this.closing) return Promise.reject(new MailError('TemporaryFailure', 'shutting down'));
    const id = this.nextId++;
    const index = id % this.slots.length;
    const slot = (this.slots[index] ??= this.start(index));
    return new Promise<T>((resolve, reject) => {
      slot.waiting.set(id, { resolve, reject, timer: null });
      if (slot.ready) slot.waiting.get(id)!.timer = this.timer(slot, id);
      slot.thread.postMessage({ id, op, password, hash });
    });
  }

  private timer(slot: Slot, id: number): NodeJS.Timeout {
    return setTimeout(() => {
      const w = slot.waiting.get(id);
      if (!w) return;
      slot.waiting.delete(id);
      w.reject(new MailError('TemporaryFailure', `password check not answered within ${this.timeoutMs} ms`));
      // a thread that does not answer is not trusted with the next request either
      void slot.thread.terminate();
    }, this.timeoutMs);
  }

  hash(password: string): Promise<string> {
    return this.call('hash', password);
  }
  verify(password: string, hash: string): Promise<boolean> {
    return this.call('verify', password, hash);
  }
  burn(password: string): Promise<boolean> {
    return this.call('burn', password);
  }

  /** Test seam: kills the threads as a crash would. */
  async killThreads(): Promise<void> {
    await Promise.all(this.slots.map((s) => s?.thread.terminate()));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s?.thread.terminate()));
  }
}
