import { availableParallelism } from 'node:os';
import type { PasswordHasher } from '../core/auth';
import { ThreadPool } from './thread-pool';

/**
 * bcrypt on worker threads (see PasswordHasher), requests dealt round-robin. A thread
 * that dies fails only its own requests (TemporaryFailure: the client may retry) and
 * is replaced on the next call; a request not answered in `timeoutMs` fails too, so a
 * stuck thread never leaves a login hanging. A thread with nothing to do for a minute
 * stops (its memory goes back); the next login starts one.
 */
export class PasswordPool implements PasswordHasher {
  private readonly pool: ThreadPool;

  /** Threads start on first use: a server that only receives mail never pays for them. */
  constructor(size = Math.max(1, Math.min(2, availableParallelism())), timeoutMs = 30_000, idleMs?: number) {
    this.pool = new ThreadPool({ dir: __dirname, name: 'password-thread', callerFile: __filename, size, timeoutMs, label: 'password check', idleMs });
  }

  /** Threads now running. */
  get liveThreads(): number {
    return this.pool.liveThreads;
  }

  hash(password: string): Promise<string> {
    return this.pool.call({ op: 'hash', password });
  }
  verify(password: string, hash: string): Promise<boolean> {
    return this.pool.call({ op: 'verify', password, hash });
  }
  burn(password: string): Promise<boolean> {
    return this.pool.call({ op: 'burn', password });
  }

  /** Test seam: kills the threads as a crash would. */
  killThreads(): Promise<void> {
    return this.pool.killThreads();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
