import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { PasswordHasher } from '../core/auth';
import { MailError } from '../core/errors';
import { startThread } from './thread';

/** bcrypt on worker threads (see PasswordHasher), requests dealt round-robin. */
export class PasswordPool implements PasswordHasher {
  private readonly threads: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>();
  private nextId = 1;

  /** Threads start on first use: a server that only receives mail never pays for them. */
  constructor(private readonly size = Math.max(1, Math.min(2, availableParallelism()))) {}

  private start(): Worker {
    const thread = startThread(__dirname, 'password-thread', __filename, {});
    thread.on('message', (m: { id: number; value?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new MailError('TemporaryFailure', 'password check failed', { cause: new Error(m.error) }));
      else w.resolve(m.value);
    });
    const fail = (err: Error) => {
      for (const w of this.waiting.values()) w.reject(new MailError('TemporaryFailure', 'password check unavailable', { cause: err }));
      this.waiting.clear();
    };
    thread.on('error', fail);
    thread.on('exit', () => fail(new Error('password thread stopped')));
    return thread;
  }

  private call<T>(op: 'hash' | 'verify' | 'burn', password: string, hash?: string): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      while (this.threads.length < this.size) this.threads.push(this.start());
      this.threads[id % this.threads.length].postMessage({ id, op, password, hash });
    });
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

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}
