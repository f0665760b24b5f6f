import { parentPort, workerData } from 'node:worker_threads';
import { isMailError } from '../../core/errors';
import { openConnection, Statements, type SerializedError } from './sqlite';
import { SegmentWriter } from './blob-segments';
import { idleTasks, writeOps, type WriteOpName } from './write-ops';

/**
 * The writer thread of EmbeddedDb: group commit. Every write request that arrives
 * before the next turn of this thread's event loop joins one transaction.
 */
const { path, segmentMaxBytes } = workerData as { path: string; segmentMaxBytes: number };
const db = openConnection(path, { writer: true });
const segments = new SegmentWriter(path, segmentMaxBytes);
const statements = new Statements(db, segments);
// prepared once: exec() would parse these four for every write of every batch
const savepoint = db.prepare('SAVEPOINT op');
const release = db.prepare('RELEASE op');
const rollbackTo = db.prepare('ROLLBACK TO op');
type Request = { id: number; op: WriteOpName; args: unknown };
let pending: Request[] = [];
let scheduled = false;
/** How long the writer must have been quiet before idle tasks run (a burst of mail goes first). */
const IDLE_AFTER_MS = 100;
let idleTimer: NodeJS.Timeout | null = null;

function scheduleIdle(): void {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(runIdle, IDLE_AFTER_MS);
}

function runIdle(): void {
  idleTimer = null;
  if (pending.length) return; // a write came in: it goes first, and reschedules this
  let more = false;
  try {
    db.exec('BEGIN IMMEDIATE');
    for (const task of idleTasks) {
      // each in a savepoint: one that fails (its tables not made by this process, say) holds up no other
      savepoint.run();
      try {
        more = task(statements) || more;
        release.run();
      } catch {
        rollbackTo.run();
        release.run();
      }
    }
    segments.sync();
    db.exec('COMMIT');
  } catch {
    if (db.inTransaction) db.exec('ROLLBACK');
    return;
  }
  // small steps, so a write that arrives meanwhile waits at most one of them
  if (more) setImmediate(runIdle);
}

function serialize(err: unknown): SerializedError {
  if (isMailError(err)) return { code: err.code, message: err.message };
  return { message: err instanceof Error ? err.message : String(err) };
}

function flush(): void {
  scheduled = false;
  const batch = pending;
  pending = [];
  if (batch.length === 0) return;
  const results: Array<{ id: number; ok: boolean; value?: unknown; error?: SerializedError }> = [];
  try {
    db.exec('BEGIN IMMEDIATE');
    for (const req of batch) {
      savepoint.run();
      try {
        const value = (writeOps[req.op] as (s: Statements, a: unknown) => unknown)(statements, req.args);
        release.run();
        results.push({ id: req.id, ok: true, value });
      } catch (err) {
        rollbackTo.run();
        release.run();
        results.push({ id: req.id, ok: false, error: serialize(err) });
      }
    }
    // the rows below point at segment bytes: those reach the disk first
    segments.sync();
    db.exec('COMMIT');
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    const error: SerializedError = { message: `commit failed: ${err instanceof Error ? err.message : String(err)}`, commitFailed: true };
    parentPort!.postMessage(batch.map((req) => ({ id: req.id, ok: false, error })));
    return;
  }
  parentPort!.postMessage(results);
  scheduleIdle();
}

// work left from an earlier run (say, bodies not yet indexed) starts without waiting for a write
scheduleIdle();
// loaded and connected: from now on the main thread times its writes (a cold start is not a hang)
parentPort!.postMessage({ ready: true });

parentPort!.on('message', (msg: Request | { close: true }) => {
  if ('close' in msg) {
    if (idleTimer) clearTimeout(idleTimer);
    flush();
    segments.close();
    db.close();
    process.exit(0);
  }
  pending.push(msg);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
