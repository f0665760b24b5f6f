import { parentPort, workerData } from 'node:worker_threads';
import { openConnection, Statements, type WriterReply, type WriterRequest } from './sqlite';
import { SegmentWriter } from './blob-segments';
import { GroupCommit } from './group-commit';
import { idleTasks, writeOps } from './write-ops';

/**
 * The writer thread of EmbeddedDb: group commit. Every write request that arrives
 * before the next turn of this thread's event loop joins one transaction (group-commit.ts).
 */
const { path, segmentMaxBytes } = workerData as { path: string; segmentMaxBytes: number };
const db = openConnection(path, { writer: true });
const segments = new SegmentWriter(path, segmentMaxBytes);
const commits = new GroupCommit(db, new Statements(db, segments), segments);
let pending: WriterRequest[] = [];
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
  // small steps, so a write that arrives meanwhile waits at most one of them
  const more = commits.idle(idleTasks);
  if (segments.problems.length) {
    const reply: WriterReply = { problems: segments.problems.splice(0) };
    parentPort!.postMessage(reply);
  }
  if (more) setImmediate(runIdle);
}

function flush(): void {
  scheduled = false;
  const batch = pending;
  pending = [];
  if (batch.length === 0) return;
  const results = commits.batch(batch.map((req) => ({ id: req.id, run: (s: Statements) => (writeOps[req.op] as (s: Statements, a: unknown) => unknown)(s, req.args) })));
  // the buffers the writes borrowed go back to the main thread's pool (their bytes are in SQLite or a segment now)
  const lent = batch.flatMap((req) => req.lent ?? []);
  const reply: WriterReply = { results, lent };
  parentPort!.postMessage(reply, lent);
  scheduleIdle();
}

// work left from an earlier run (say, bodies not yet indexed) starts without waiting for a write
scheduleIdle();
// loaded and connected: from now on the main thread times its writes (a cold start is not a hang)
parentPort!.postMessage({ ready: true });

// the main thread sends the writes asked for in one turn of its event loop together (EmbeddedDb's send)
parentPort!.on('message', (msg: WriterRequest[] | { close: true }) => {
  if (!Array.isArray(msg)) {
    if (idleTimer) clearTimeout(idleTimer);
    flush();
    segments.close();
    db.close();
    process.exit(0);
  }
  for (const request of msg) pending.push(request);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
