import type { DkimSigner } from '../core/dkim';
import { ThreadPool } from './thread-pool';

/**
 * DKIM signing on a thread of its own (the local host, the Azure edge): canonicalising a message and the
 * RSA signature are ~1 ms of CPU each that would otherwise hold up every SMTP session and
 * HTTP request on the main thread. A dead or stuck thread fails its requests as a
 * TemporaryFailure (451 / 503: the client sends again) and is replaced. The thread starts
 * with the first signature and stops after a minute without one.
 */
export class DkimPool {
  private readonly pool = new ThreadPool({ dir: __dirname, name: 'dkim-thread', callerFile: __filename, size: 1, timeoutMs: 30_000, label: 'DKIM signing' });

  readonly sign: DkimSigner = (raw, key, signTime) => {
    const copy = new Uint8Array(raw); // a right-sized copy, moved to the thread
    return this.pool.call<string>({ raw: copy, key, signTime: signTime.getTime() }, [copy.buffer]);
  };

  /** Test seam: kills the thread as a crash would. */
  killThreads(): Promise<void> {
    return this.pool.killThreads();
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
