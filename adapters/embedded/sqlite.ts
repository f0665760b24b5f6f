import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../thread';
import { MailError, type ErrorCode, ERROR_TABLE } from '../../core/errors';
import type { WriteOpName, WriteOps } from './write-ops';
import { SEGMENT_MAX_BYTES, type SegmentWriter } from './blob-segments';
import { BufferPool } from './buffer-pool';
import type { WriteResult } from './group-commit';

/** Opens a connection with the settings every connection to the data file uses; `writer`: the writer thread's. */
export function openConnection(path: string, opts: { writer?: boolean } = {}): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // every commit is fsync'd before it returns: durable means on disk, as Postfix means it
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma('cache_size = -8192'); // 8 MB of page cache per connection
  // The writer runs each write in a savepoint inside the group commit. With temporary files,
  // SQLite wrote every page a savepoint touched to a new file in /var/tmp as well (a third of
  // the writer's disk writes); these journals only undo a failed write and are never needed after
  // a crash, so the writer keeps them in memory. The cost: one write's journal is held in memory
  // whole (deleting a user with many messages holds roughly their pages, as it already holds their
  // rows). The read connection keeps the default, so its sorts and migrations can still spill to disk.
  if (opts.writer) db.pragma('temp_store = MEMORY');
  return db;
}

/** A statement cache over one connection. */
export class Statements {
  private readonly cache = new Map<string, Database.Statement>();
  /** `segments`: the writer thread's segment appender (blob-segments.ts); absent on the read connection. */
  constructor(
    readonly db: Database.Database,
    readonly segments: SegmentWriter | null = null,
  ) {}
  get(sql: string): Database.Statement {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }
}

/** A write, as it goes to the writer thread (db-writer-thread.ts). */
export interface WriterRequest {
  id: number;
  op: WriteOpName;
  args: unknown;
  /** Buffers transferred with it, to be sent back once it has run. */
  lent?: ArrayBuffer[];
}

/** What the writer thread says: it is ready, a batch's results (with the buffers its writes borrowed), or what went wrong in its idle work. */
export type WriterReply = { ready: true } | { results: WriteResult[]; lent: ArrayBuffer[] } | { problems: string[] };

/** What crosses the thread boundary for a failed write. */
export interface SerializedError {
  code?: string;
  message: string;
  /** The commit itself failed: it may still have reached the disk. */
  commitFailed?: boolean;
}

/**
 * The embedded database. Reads run on this thread's connection; every write runs
 * on a dedicated writer thread with its own connection, with group commit: the
 * writes that arrive together run in one transaction and share one fsync, each in
 * its own savepoint so one failing write does not undo the others. The fsyncs,
 * WAL checkpoints and statement work thus stay off the thread that speaks SMTP
 * and HTTP. Writes are named operations (write-ops.ts), since code cannot cross threads.
 */
export interface EmbeddedDbOptions {
  /** A write not answered within this long fails with TemporaryFailure (its outcome is then unknown: callers answer 4xx). */
  writeTimeoutMs?: number;
  /** Restarts of a writer thread that died allowed within a minute; past that the write path stays down (health says so). */
  maxRestartsPerMinute?: number;
  /** Size at which a blob segment file is closed and the next begun (blob-segments.ts; tests make it small). */
  segmentMaxBytes?: number;
}

export class EmbeddedDb {
  /** This thread's connection: reads, and schema migrations at start-up. */
  readonly db: Database.Database;
  private readonly statements: Statements;
  private writer!: Worker;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout | null; timeoutMs: number }>();
  /** The writer thread has loaded its code and opened its connection; writes are timed from then on. */
  private writerReady = false;
  private nextId = 1;
  private closed: Promise<void> | null = null;
  /** Why writes cannot be made now (the writer died and is being restarted, or gave up); null when they can. */
  private writerDown: Error | null = null;
  private readonly restarts: number[] = [];
  private readonly opts: Required<EmbeddedDbOptions>;
  /** Test seam: fail every write with this error (simulates a full or broken disk). */
  failWrites: Error | null = null;
  /** Called when the writer thread dies (for logging by the host). */
  onWriterDeath: ((err: Error, restarting: boolean) => void) | null = null;
  /** Called with what went wrong in the writer's idle work, a segment it cannot read, say (for logging by the host). */
  onWriterProblem: ((problem: string) => void) | null = null;
  /** Buffers to lend to writes (`write`'s `lend`); the writer thread sends them back here. */
  readonly buffers = new BufferPool();
  /** The writes asked for in this turn of the event loop, not yet sent (see `send`). */
  private outbox: { requests: WriterRequest[]; lend: ArrayBuffer[] } | null = null;

  constructor(
    readonly path: string,
    opts: EmbeddedDbOptions = {},
  ) {
    this.opts = { writeTimeoutMs: 30_000, maxRestartsPerMinute: 5, segmentMaxBytes: SEGMENT_MAX_BYTES, ...opts };
    mkdirSync(dirname(path), { recursive: true });
    this.db = openConnection(path);
    this.statements = new Statements(this.db);
    this.startWriter();
  }

  private startWriter(): void {
    // a small young generation: inline blobs pass through here, and a big new space
    // only grows the process's RSS before the garbage is collected (the launchers'
    // --max-semi-space-size overrides this limit: core/node-flags.ts)
    const writer = startThread(__dirname, 'db-writer-thread', __filename, { path: this.path, segmentMaxBytes: this.opts.segmentMaxBytes }, { maxYoungGenerationSizeMb: 8 });
    this.writer = writer;
    this.writerReady = false;
    writer.on('message', (m: WriterReply) => {
      if ('ready' in m) {
        this.writerReady = true;
        for (const [id, w] of this.waiting) w.timer ??= this.timeWrite(id, w.timeoutMs);
        return;
      }
      if ('problems' in m) {
        for (const problem of m.problems) this.onWriterProblem?.(problem);
        return;
      }
      for (const buffer of m.lent) this.buffers.give(buffer);
      for (const r of m.results) this.settle(r.id, (w) => (r.ok ? w.resolve(r.value) : w.reject(deserializeError(r.error!))));
    });
    let dead = false;
    const died = (err: Error) => {
      if (dead || this.closed) return;
      dead = true;
      this.writerDied(err);
    };
    writer.on('error', died);
    writer.on('exit', (code) => died(new Error(`database writer stopped (exit code ${code})`)));
  }

  /**
   * The writer thread died: what it had not answered fails (4xx to the client, which
   * retries), and a new thread takes over, unless it keeps dying; then the write path
   * stays down and health reports it, rather than a restart loop.
   */
  private writerDied(err: Error): void {
    this.writerDown = err;
    // writes still in the outbox never reached the thread
    const unsent = new Set(this.outbox?.requests.map((r) => r.id));
    this.outbox = null;
    for (const [id, w] of this.waiting) {
      if (w.timer) clearTimeout(w.timer);
      // the thread may have committed the others before it stopped
      w.reject(new MailError('TemporaryFailure', 'storage unavailable', { cause: err, outcome: unsent.has(id) ? 'not-done' : 'unknown' }));
    }
    this.waiting.clear();
    const now = Date.now();
    while (this.restarts.length && this.restarts[0] < now - 60_000) this.restarts.shift();
    const restarting = this.restarts.length < this.opts.maxRestartsPerMinute;
    this.onWriterDeath?.(err, restarting);
    if (!restarting) return;
    this.restarts.push(now);
    setTimeout(() => {
      if (this.closed) return;
      this.startWriter();
      this.writerDown = null;
    }, 100).unref();
  }

  /** Test seam: kills the writer thread as a crash would. */
  async killWriter(): Promise<void> {
    await this.writer.terminate();
  }

  /** The write path works: a no-op goes through the writer thread within `timeoutMs`. */
  async pingWriter(timeoutMs = 2_000): Promise<void> {
    await this.write('db.ping', undefined, [], timeoutMs);
  }

  /** A cached prepared statement on this thread's (read) connection. */
  stmt(sql: string): Database.Statement {
    return this.statements.get(sql);
  }

  /** Applies numbered migrations once each, tracked per component in `schema_versions`. */
  migrate(component: string, migrations: string[]): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    const row = this.db.prepare('SELECT version FROM schema_versions WHERE component = ?').get(component) as { version: number } | undefined;
    let version = row?.version ?? 0;
    for (; version < migrations.length; version++) {
      this.db.transaction(() => {
        this.db.exec(migrations[version]);
        this.db
          .prepare('INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version')
          .run(component, version + 1);
      })();
    }
  }

  /**
   * Runs the named write on the writer thread; resolves once its commit is on disk.
   * A rejection says whether the write surely took no effect (`outcome`, see core/errors.ts).
   * `lend`: buffers (from `buffers`) handed to the writer thread instead of copied; the caller
   * must not use them after. The writer sends them back once the write has run, to `buffers`.
   */
  write<K extends WriteOpName>(op: K, args: Parameters<WriteOps[K]>[1], lend: ArrayBuffer[] = [], timeoutMs = this.opts.writeTimeoutMs): Promise<ReturnType<WriteOps[K]>> {
    if (this.closed) return Promise.reject(new MailError('TemporaryFailure', 'database is closed', { outcome: 'not-done' }));
    if (this.writerDown) return Promise.reject(new MailError('TemporaryFailure', 'storage unavailable', { cause: this.writerDown, outcome: 'not-done' }));
    if (this.failWrites) return Promise.reject(new MailError('TemporaryFailure', 'storage write failed', { cause: this.failWrites, outcome: 'not-done' }));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, timer: this.writerReady ? this.timeWrite(id, timeoutMs) : null, timeoutMs });
      const request: WriterRequest = { id, op, args };
      if (lend.length) request.lent = lend;
      this.send(request, lend);
    });
  }

  /**
   * Writes cross to the writer thread together: those asked for in one turn of this
   * thread's event loop (with 500 sessions, several messages' blobs and queue sends)
   * go as one message once the turn's I/O is handled. One message instead of several
   * wakes the writer once, and what reaches it together joins one commit, so the pages
   * the writes share (indexes, counters) and the fsync are written fewer times.
   * Measured at 500 sessions x 4 KB against each write crossing alone: the writer thread
   * woke half as often, made 12.3 write calls and wrote 30.5 KB a message (13.5 and 33 KB),
   * and the process spent 0.90x the CPU a message (median of 6 interleaved pairs, all lower).
   */
  private send(request: WriterRequest, lend: ArrayBuffer[]): void {
    if (!this.outbox) {
      this.outbox = { requests: [], lend: [] };
      setImmediate(() => this.flushOutbox());
    }
    this.outbox.requests.push(request);
    for (const buffer of lend) this.outbox.lend.push(buffer);
  }

  private flushOutbox(): void {
    const box = this.outbox;
    this.outbox = null;
    if (!box) return;
    try {
      this.writer.postMessage(box.requests, box.lend);
    } catch {
      // one write that cannot be copied (a bug) fails alone: the others go one by one, as they
      // went before they were sent together (a failed copy sends nothing and detaches no buffer)
      for (const request of box.requests) {
        try {
          this.writer.postMessage([request], request.lent ?? []);
        } catch (err) {
          this.settle(request.id, (w) => w.reject(new MailError('TemporaryFailure', 'storage write could not be sent', { cause: err, outcome: 'not-done' })));
        }
      }
    }
  }

  /** Ends the wait for a write (answered, failed, timed out or not sent), unless it has ended already. */
  private settle(id: number, end: (w: { resolve: (v: any) => void; reject: (e: unknown) => void }) => void): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    if (w.timer) clearTimeout(w.timer);
    end(w);
  }

  private timeWrite(id: number, timeoutMs: number): NodeJS.Timeout {
    // the writer may still commit it: the outcome is not known
    return setTimeout(() => this.settle(id, (w) => w.reject(new MailError('TemporaryFailure', `storage write not answered within ${timeoutMs} ms`, { outcome: 'unknown' }))), timeoutMs);
  }

  /** Lets pending writes commit, then stops the writer and closes both connections. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      const done = () => {
        this.buffers.clear();
        this.db.close();
        resolve();
      };
      if (this.writerDown) {
        void this.writer.terminate();
        return done();
      }
      this.writer.once('exit', done);
      this.flushOutbox(); // the writes asked for before close go first
      this.writer.postMessage({ close: true });
    });
    return this.closed;
  }
}

/** A write that failed in its own savepoint was rolled back; one whose commit failed may be on disk all the same. */
function deserializeError(e: SerializedError): Error {
  const outcome = e.commitFailed ? 'unknown' : 'not-done';
  if (e.code && e.code in ERROR_TABLE) return new MailError(e.code as ErrorCode, e.message, { outcome });
  return new MailError('TemporaryFailure', 'storage write failed', { cause: new Error(e.message), outcome });
}
