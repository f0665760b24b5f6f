import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../thread';
import { MailError, type ErrorCode, ERROR_TABLE } from '../../core/errors';
import type { WriteOpName, WriteOps } from './write-ops';

/** Opens a connection with the settings every connection to the data file uses. */
export function openConnection(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // every commit is fsync'd before it returns: durable means on disk, as Postfix means it
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma('cache_size = -8192'); // 8 MB of page cache per connection
  return db;
}

/** A statement cache over one connection. */
export class Statements {
  private readonly cache = new Map<string, Database.Statement>();
  constructor(readonly db: Database.Database) {}
  get(sql: string): Database.Statement {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }
}

/** What crosses the thread boundary for a failed write. */
export interface SerializedError {
  code?: string;
  message: string;
}

/**
 * The embedded database. Reads run on this thread's connection; every write runs
 * on a dedicated writer thread with its own connection, with group commit: the
 * writes that arrive together run in one transaction and share one fsync, each in
 * its own savepoint so one failing write does not undo the others. The fsyncs,
 * WAL checkpoints and statement work thus stay off the thread that speaks SMTP
 * and HTTP. Writes are named operations (write-ops.ts), since code cannot cross threads.
 */
export class EmbeddedDb {
  /** This thread's connection: reads, and schema migrations at start-up. */
  readonly db: Database.Database;
  private readonly statements: Statements;
  private readonly writer: Worker;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private closed: Promise<void> | null = null;
  private writerFailed: Error | null = null;
  /** Test seam: fail every write with this error (simulates a full or broken disk). */
  failWrites: Error | null = null;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = openConnection(path);
    this.statements = new Statements(this.db);
    // a small young generation: inline blobs pass through here, and a big new space
    // only grows the process's RSS before the garbage is collected
    this.writer = startThread(__dirname, 'db-writer-thread', __filename, { path }, { maxYoungGenerationSizeMb: 8 });
    this.writer.on('message', (results: Array<{ id: number; ok: boolean; value?: unknown; error?: SerializedError }>) => {
      for (const r of results) {
        const w = this.waiting.get(r.id);
        if (!w) continue;
        this.waiting.delete(r.id);
        if (r.ok) w.resolve(r.value);
        else w.reject(deserializeError(r.error!));
      }
    });
    this.writer.on('error', (err) => this.failAll(err));
    this.writer.on('exit', () => this.failAll(new Error('database writer stopped')));
  }

  private failAll(err: Error): void {
    this.writerFailed = err;
    for (const w of this.waiting.values()) w.reject(new MailError('TemporaryFailure', 'storage unavailable', { cause: err }));
    this.waiting.clear();
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

  /** Runs the named write on the writer thread; resolves once its commit is on disk. */
  /** `transfer`: buffers handed to the writer thread instead of copied (the caller must not use them after). */
  write<K extends WriteOpName>(op: K, args: Parameters<WriteOps[K]>[1], transfer: ArrayBuffer[] = []): Promise<ReturnType<WriteOps[K]>> {
    if (this.closed || this.writerFailed) return Promise.reject(new MailError('TemporaryFailure', 'database is closed'));
    if (this.failWrites) return Promise.reject(new MailError('TemporaryFailure', 'storage write failed', { cause: this.failWrites }));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.writer.postMessage({ id, op, args }, transfer);
    });
  }

  /** Lets pending writes commit, then stops the writer and closes both connections. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      const done = () => {
        this.db.close();
        resolve();
      };
      if (this.writerFailed) return done();
      this.writer.once('exit', done);
      this.writer.postMessage({ close: true });
    });
    return this.closed;
  }
}

function deserializeError(e: SerializedError): Error {
  if (e.code && e.code in ERROR_TABLE) return new MailError(e.code as ErrorCode, e.message);
  return new MailError('TemporaryFailure', 'storage write failed', { cause: new Error(e.message) });
}
