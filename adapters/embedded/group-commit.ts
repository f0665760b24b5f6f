import type Database from 'better-sqlite3';
import { isMailError } from '../../core/errors';
import type { SegmentWriter } from './blob-segments';
import type { SerializedError, Statements } from './sqlite';

export type WriteResult = { id: number; ok: boolean; value?: unknown; error?: SerializedError };

function serialize(err: unknown): SerializedError {
  if (isMailError(err)) return { code: err.code, message: err.message };
  return { message: err instanceof Error ? err.message : String(err) };
}

/**
 * The transactions of the writer thread (db-writer-thread.ts), apart from its messaging
 * so that tests can run them in process: a batch of writes as one transaction, each
 * write in a savepoint; the idle tasks likewise. Segment bytes that the writes appended
 * are synced before the COMMIT that makes rows point at them; when that sync fails the
 * whole transaction is rolled back, so no row ever points at bytes that did not reach
 * the disk. Segments compaction emptied are removed only after the commit.
 */
export class GroupCommit {
  // prepared once: exec() would parse these for every write of every batch
  private readonly savepoint: Database.Statement;
  private readonly release: Database.Statement;
  private readonly rollbackTo: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    private readonly statements: Statements,
    private readonly segments: SegmentWriter,
  ) {
    this.savepoint = db.prepare('SAVEPOINT op');
    this.release = db.prepare('RELEASE op');
    this.rollbackTo = db.prepare('ROLLBACK TO op');
  }

  /** Runs `fn` in a savepoint: its failure undoes its own changes only. */
  private step<T>(fn: () => T): { ok: true; value: T } | { ok: false; error: unknown } {
    this.savepoint.run();
    try {
      const value = fn();
      this.release.run();
      return { ok: true, value };
    } catch (error) {
      this.rollbackTo.run();
      this.release.run();
      return { ok: false, error };
    }
  }

  /** The segment sync, then COMMIT; any failure rolls the whole transaction back and is thrown. */
  private commit(): void {
    try {
      this.segments.sync();
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.segments.keepRetired(); // the rows still point at them
      throw err;
    }
    this.segments.removeRetired();
  }

  /** One batch of writes in one transaction; a result per write (all failed, `commitFailed`, when the commit did). */
  batch(requests: Array<{ id: number; run: (s: Statements) => unknown }>): WriteResult[] {
    const results: WriteResult[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const req of requests) {
        const r = this.step(() => req.run(this.statements));
        results.push(r.ok ? { id: req.id, ok: true, value: r.value } : { id: req.id, ok: false, error: serialize(r.error) });
      }
      this.commit();
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      const error: SerializedError = { message: `commit failed: ${err instanceof Error ? err.message : String(err)}`, commitFailed: true };
      return requests.map((req) => ({ id: req.id, ok: false, error }));
    }
    return results;
  }

  /**
   * One turn of the idle tasks in one transaction, each in a savepoint (one that fails, its
   * tables not made by this process, say, holds up no other). True while more is waiting;
   * false also when the transaction failed (the next write brings the next turn).
   */
  idle(tasks: Array<(s: Statements) => boolean>): boolean {
    let more = false;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const task of tasks) {
        const r = this.step(() => task(this.statements));
        if (r.ok) more = r.value || more;
      }
      this.commit();
    } catch {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      return false;
    }
    return more;
  }
}
