import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MailError } from '../../core/errors';

type Op = { fn: () => unknown; resolve: (v: any) => void; reject: (e: unknown) => void };

/**
 * One SQLite connection (WAL, synchronous=FULL: every commit is fsync'd before it
 * returns) with group commit: writes asked for in the same tick run in one
 * transaction and share one fsync. Each write runs in its own savepoint, so one
 * failing write does not undo the others in its batch.
 */
export class EmbeddedDb {
  readonly db: Database.Database;
  private pending: Op[] = [];
  private scheduled = false;
  private closed = false;
  /** Test seam: fail every write with this error (simulates a full or broken disk). */
  failWrites: Error | null = null;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('cache_size = -65536');
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

  /** Runs `fn` inside the next group commit; resolves once the commit is on disk. */
  write<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new MailError('TemporaryFailure', 'database is closed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.failWrites) {
      for (const op of batch) op.reject(new MailError('TemporaryFailure', 'storage write failed', { cause: this.failWrites }));
      return;
    }
    const results: Array<{ ok: boolean; value: unknown }> = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const op of batch) {
        this.db.exec('SAVEPOINT op');
        try {
          results.push({ ok: true, value: op.fn() });
          this.db.exec('RELEASE op');
        } catch (err) {
          this.db.exec('ROLLBACK TO op');
          this.db.exec('RELEASE op');
          results.push({ ok: false, value: err });
        }
      }
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const op of batch) op.reject(new MailError('TemporaryFailure', 'storage commit failed', { cause: err }));
      return;
    }
    batch.forEach((op, i) => (results[i].ok ? op.resolve(results[i].value) : op.reject(results[i].value)));
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }
}
