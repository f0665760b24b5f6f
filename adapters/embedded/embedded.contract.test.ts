import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobStoreContract } from '../contract/blob-store.contract';
import { mailStoreContract } from '../contract/mail-store.contract';
import { queueContract } from '../contract/queue.contract';
import { sendLimitContract } from '../contract/send-limit.contract';
import { SendLimiter } from '../../core/rate-limit';
import { EmbeddedBlobStore } from './embedded-blob-store';
import { EmbeddedDb, openConnection } from './sqlite';
import type { MessageSummary } from '../../core/types';
import { waitFor } from '../../test/wait';
import { SqliteMailStore } from './sqlite-mail-store';
import { SqliteQueue } from './sqlite-queue';
import { surelyNotDone } from '../../core/errors';

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-contract-'));
  const db = new EmbeddedDb(join(dir, 'nimbus.db'));
  return {
    dir,
    db,
    async cleanup() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` on a fresh database, removed after. */
async function withDb(fn: (db: EmbeddedDb) => Promise<void>): Promise<void> {
  const f = fresh();
  try {
    await fn(f.db);
  } finally {
    await f.cleanup();
  }
}

mailStoreContract('SQLite', async () => {
  const f = fresh();
  return { store: new SqliteMailStore(f.db), cleanup: f.cleanup };
});

// inline threshold 64 KB: the large case (1 MB) goes through the file path
blobStoreContract(
  'files + SQLite',
  async () => {
    const f = fresh();
    return { blobs: new EmbeddedBlobStore(f.db, f.dir, 64 * 1024), cleanup: f.cleanup };
  },
  { largeBytes: 1024 * 1024 },
);

// the default inline threshold (256 KB): the large case (100 KB) goes to a segment file (blob-segments.ts)
blobStoreContract(
  'segments + SQLite',
  async () => {
    const f = fresh();
    return { blobs: new EmbeddedBlobStore(f.db, f.dir), cleanup: f.cleanup };
  },
  { largeBytes: 100 * 1024 },
);

queueContract('SQLite', async (opts) => {
  const f = fresh();
  return { queue: new SqliteQueue<{ n: number }>(f.db, 'contract', opts), cleanup: f.cleanup };
});

// as the local host's inbound queue runs (the most kept at once small, so the contract's tests pass it too)
queueContract('SQLite, bodies handed off', async (opts) => {
  const f = fresh();
  return { queue: new SqliteQueue<{ n: number }>(f.db, 'contract', { ...opts, handOff: 2 }), cleanup: f.cleanup };
});

describe('SqliteQueue handOff: the body sent is what the first receive returns', () => {
  type Body = { n: number; text?: string };
  it('the first receive returns the object sent, not a copy; a redelivery reads the stored body', () =>
    withDb(async (db) => {
      const queue = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000, handOff: 10 });
      const body = { n: 1, text: 'é'.repeat(5000) };
      await queue.send('a', body);
      const [first] = await queue.receive(10);
      expect(first.body).toBe(body);
      await queue.abandon(first);
      const [again] = await queue.receive(10);
      expect(again.body).not.toBe(body);
      expect(again.body).toEqual(body);
      expect(again.deliveryCount).toBe(2);
    }));

  it('past the most kept, bodies are read back; a send again under a queued id keeps the first body', () =>
    withDb(async (db) => {
      const queue = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000, handOff: 2 });
      const bodies = [{ n: 1 }, { n: 2 }, { n: 3 }];
      for (const [i, body] of bodies.entries()) await queue.send(`m${i}`, body);
      await queue.send('m0', { n: 99 }); // duplicate: dropped
      const got = await queue.receive(10);
      expect(got.map((d) => d.body)).toEqual(bodies);
      expect(got.map((d) => d.body === bodies[Number(d.id.slice(1))])).toEqual([true, true, false]); // the third was not kept
      for (const d of got) await queue.complete(d);
      // room again: the next one is kept
      const next = { n: 4 };
      await queue.send('m3', next);
      expect((await queue.receive(10))[0].body).toBe(next);
    }));

  it('a body left out but not kept here is read from the database; a new writer thread knows of no bodies left out', () =>
    withDb(async (db) => {
      const sender = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000, handOff: 10 });
      const other = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000 }); // keeps nothing: as a send whose answer was lost
      await sender.send('left-out', { n: 1, text: 'kept by the sender' });
      const [read] = await other.receive(10);
      expect(read).toMatchObject({ id: 'left-out', body: { n: 1, text: 'kept by the sender' }, deliveryCount: 1 });
      await other.complete(read);

      const body = { n: 2 };
      await sender.send('before-restart', body);
      await db.killWriter();
      await waitFor(() => db.pingWriter().then(() => true, () => undefined));
      const [after] = await sender.receive(10);
      expect(after.body).toEqual(body);
      expect(after.body).not.toBe(body); // the new thread sent it, so the stored one is used
      await sender.complete(after);
      expect(await sender.depth()).toBe(0);
    }));

  it('a send again of a message received but not yet completed keeps nothing either (its place is free for the next)', () =>
    withDb(async (db) => {
      const queue = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000, handOff: 1 });
      await queue.send('a', { n: 1 });
      const [a] = await queue.receive(10);
      await queue.send('a', { n: 2 }); // locked, so still queued: dropped
      await queue.complete(a);
      const next = { n: 3 };
      await queue.send('b', next);
      expect((await queue.receive(10))[0].body).toBe(next);
    }));

  it('a send that timed out and is sent again under the same id: the first receive gets the stored (first) body, not the second one kept', async () => {
    const f = fresh();
    await f.db.close();
    const path = join(f.dir, 'nimbus.db');
    const db = new EmbeddedDb(path, { writeTimeoutMs: 300 });
    const other = openConnection(path);
    try {
      const queue = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000, handOff: 10 });
      await db.pingWriter();
      // another connection holds the write lock: the writer thread waits for it (busy_timeout) past the write's timeout
      other.exec('BEGIN IMMEDIATE');
      await expect(queue.send('a', { n: 1 })).rejects.toMatchObject({ outcome: 'unknown' });
      const received = queue.receive(10); // reaches the writer after the first send commits
      const retry = queue.send('a', { n: 2 }); // sent again: duplicate detection keeps { n: 1 }
      other.exec('COMMIT');
      const [d] = await received;
      await retry;
      expect(d.body).toEqual({ n: 1 });
    } finally {
      other.close();
      await db.close();
      rmSync(f.dir, { recursive: true, force: true });
    }
  });

  it('a body left out whose read fails goes back to the queue, not to the dead letters', () =>
    withDb(async (db) => {
      const sender = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000, handOff: 10 });
      const other = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000 });
      await sender.send('a', { n: 1 });
      const stmt = db.stmt.bind(db);
      db.stmt = (sql: string) => {
        if (sql.includes('FROM queue_bodies')) throw new Error('disk I/O error');
        return stmt(sql);
      };
      expect(await other.receive(10)).toEqual([]);
      db.stmt = stmt;
      expect(await other.listDeadLetters()).toEqual([]);
      const [again] = await waitFor(async () => {
        const got = await other.receive(10);
        return got.length ? got : undefined;
      });
      expect(again).toMatchObject({ id: 'a', body: { n: 1 }, deliveryCount: 2 });
    }));

  it('a send that failed keeps nothing: the same id sent again is handed off with its new body', () =>
    withDb(async (db) => {
      const queue = new SqliteQueue<Body>(db, 'q', { maxDeliveries: 5, lockMs: 60_000, handOff: 1 });
      db.failWrites = new Error('disk full');
      await expect(queue.send('a', { n: 1 })).rejects.toMatchObject({ code: 'TemporaryFailure' });
      db.failWrites = null;
      const body = { n: 2 };
      await queue.send('a', body); // with handOff 1, only if the failed send let go of its place
      expect((await queue.receive(10))[0].body).toBe(body);
    }));
});

// the local host is one process: its send limit counts in memory
sendLimitContract('in memory (the local host)', async (max) => {
  const limit = new SendLimiter(max);
  return { limits: [limit, limit], cleanup: async () => undefined };
});

describe('EmbeddedBlobStore: what interrupted uploads leave in blobs/tmp', () => {
  it('removes temporary files older than the cut-off (counted only in a dry run); younger ones may still be in use', async () => {
    const f = fresh();
    try {
      const blobs = new EmbeddedBlobStore(f.db, f.dir, 1024);
      await blobs.ping();
      const tmp = join(f.dir, 'blobs', 'tmp');
      writeFileSync(join(tmp, 'old-upload'), Buffer.alloc(3000));
      writeFileSync(join(tmp, 'new-upload'), Buffer.alloc(10));
      const hourAgo = new Date(Date.now() - 3_600_000);
      utimesSync(join(tmp, 'old-upload'), hourAgo, hourAgo);
      const cutOff = Date.now() - 60_000;
      expect(await blobs.removeUnfinished({ olderThan: cutOff, dryRun: true })).toEqual({ count: 1, bytes: 3000 });
      expect(readdirSync(tmp).sort()).toEqual(['new-upload', 'old-upload']);
      expect(await blobs.removeUnfinished({ olderThan: cutOff, dryRun: false })).toEqual({ count: 1, bytes: 3000 });
      expect(readdirSync(tmp)).toEqual(['new-upload']);
    } finally {
      await f.cleanup();
    }
  });
});

describe('SqliteMailStore: the search index', () => {
  it("a message's body text is searchable as soon as it is filed; bodies an earlier version left in fts_pending are indexed after a restart, when the writer is idle", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-fts-'));
    const path = join(dir, 'nimbus.db');
    let db = new EmbeddedDb(path);
    try {
      let store = new SqliteMailStore(db);
      const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
      const inbox = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
      const summary = (subject: string, searchText: string): MessageSummary => ({ from: null, to: [], cc: [], subject, date: null, messageId: null, attachments: [], snippet: searchText.slice(0, 12), searchText });
      const file = (n: number, s: MessageSummary) => store.fileMessages([{ userId: u.id, mailboxId: inbox.id, inboundId: `in-${n}`, rawBlobKey: `raw/${n}`, size: 1, receivedAt: n, summary: s, auth: null }]);
      const search = async (q: string) => (await store.listMessages(u.id, { mailboxId: null, limit: 10, q })).items.map((m) => m.summary.subject);
      await file(1, summary('Filed now', 'the snippet, and then zanzibar well past it'));
      expect(await search('zanzibar')).toEqual(['Filed now']); // at once, not only the snippet
      // as an earlier version left a message: its snippet indexed, its body's text waiting in fts_pending
      const [earlier] = await file(2, summary('Filed earlier', 'short text'));
      await db.close();
      const raw = openConnection(path, { writer: true });
      raw.prepare('INSERT INTO fts_pending (rowid, body) VALUES ((SELECT rowid FROM messages WHERE id = ?), ?)').run(earlier.id, 'short text and timbuktu later on');
      raw.close();
      db = new EmbeddedDb(path);
      store = new SqliteMailStore(db);
      await waitFor(async () => ((await search('timbuktu')).length ? true : undefined));
      expect(await search('timbuktu')).toEqual(['Filed earlier']);
      expect(await search('zanzibar')).toEqual(['Filed now']);
      expect((db.db.prepare('SELECT COUNT(*) AS n FROM fts_pending').get() as { n: number }).n).toBe(0);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteQueue: bodies apart from the lock', () => {
  it("a database of the earlier layout (the body in the queue row) opens with every message and dead letter; a receive no longer rewrites the body's pages", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-queue-'));
    const path = join(dir, 'nimbus.db');
    // the earlier layout, as its migration 1 made it, with a message waiting and one dead-lettered
    const raw = openConnection(path, { writer: true });
    raw.exec(`CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL);
      INSERT INTO schema_versions VALUES ('queue', 1);
      CREATE TABLE queue_messages (
        queue TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL, delivery_count INTEGER NOT NULL DEFAULT 0, lock_token TEXT,
        dead INTEGER NOT NULL DEFAULT 0, dead_reason TEXT, last_error TEXT,
        PRIMARY KEY (queue, id));
      CREATE INDEX queue_ready ON queue_messages (queue, dead, visible_at);
      INSERT INTO queue_messages (queue, id, body, enqueued_at, visible_at) VALUES ('q', 'waiting', '{"n":1}', 0, 0);
      INSERT INTO queue_messages (queue, id, body, enqueued_at, visible_at, delivery_count, dead, dead_reason) VALUES ('q', 'buried', '{"n":2}', 0, 0, 5, 1, 'MaxDeliveryCountExceeded');`);
    raw.close();
    const db = new EmbeddedDb(path);
    try {
      const queue = new SqliteQueue<{ n: number }>(db, 'q', { maxDeliveries: 5, lockMs: 60_000 });
      expect(await queue.listDeadLetters()).toEqual([{ id: 'buried', reason: 'MaxDeliveryCountExceeded', deliveryCount: 5 }]);
      const browsed: Array<{ n: number }> = [];
      for await (const body of queue.browse()) browsed.push(body);
      expect(browsed).toEqual([{ n: 1 }]);
      const [delivery] = await queue.receive(10);
      expect(delivery).toMatchObject({ id: 'waiting', body: { n: 1 }, deliveryCount: 1 });
      const columns = (db.db.prepare('PRAGMA table_info(queue_messages)').all() as Array<{ name: string }>).map((c) => c.name);
      expect(columns).not.toContain('body');
      // a large body: the receive (the lock, the delivery count) leaves the body's row as it was
      await queue.send('large', { n: 3, text: 'x'.repeat(20_000) } as { n: number });
      const bodyRow = () => db.db.prepare("SELECT rowid AS r, body FROM queue_bodies WHERE queue = 'q' AND id = 'large'").get();
      const before = bodyRow();
      expect(before).toBeDefined();
      expect(db.db.pragma('wal_checkpoint(TRUNCATE)')).toEqual([{ busy: 0, log: 0, checkpointed: 0 }]);
      const second = (await queue.receive(10)).find((d) => d.id === 'large');
      expect(second?.body).toMatchObject({ n: 3 });
      expect(bodyRow()).toEqual(before);
      // the pages the receive wrote: the queue row's and its indexes', not the body's five overflow pages (the earlier layout wrote 8)
      const pageSize = db.db.pragma('page_size', { simple: true }) as number;
      const framesWritten = (statSync(`${path}-wal`).size - 32) / (pageSize + 24);
      expect(framesWritten).toBeGreaterThan(0);
      expect(framesWritten).toBeLessThan(5);
      await Promise.all([queue.complete(delivery), queue.complete(second!)]);
      expect(db.db.prepare("SELECT id FROM queue_bodies WHERE queue = 'q' ORDER BY id").all()).toEqual([{ id: 'buried' }]); // the dead letter keeps its body
      expect(await queue.depth()).toBe(0);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('openConnection', () => {
  it("the writer's savepoint journals stay in memory (a temporary file per batch cost a third of its disk writes); the read connection's temporary data may spill to disk; both durable before 250", () => {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-connection-'));
    const writer = openConnection(join(dir, 'nimbus.db'), { writer: true });
    const reader = openConnection(join(dir, 'nimbus.db'));
    try {
      expect(writer.pragma('temp_store', { simple: true })).toBe(2); // MEMORY
      expect(reader.pragma('temp_store', { simple: true })).toBe(0); // the default: files
      for (const db of [writer, reader]) {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      }
    } finally {
      writer.close();
      reader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('EmbeddedDb: the writes of one turn of the event loop cross to the writer thread as one message', () => {
  /** The writer thread's Worker, whose postMessage a test watches (private to EmbeddedDb). */
  const writerOf = (db: EmbeddedDb) => (db as unknown as { writer: import('node:worker_threads').Worker }).writer;
  const queueOn = (db: EmbeddedDb) => new SqliteQueue<{ n: number }>(db, 'q', { maxDeliveries: 3, lockMs: 1000 });

  it('three writes asked for in one turn go as one message; a write in a later turn goes in its own; all are answered', () =>
    withDb(async (db) => {
      const queue = queueOn(db);
      await db.pingWriter(); // ready
      const sent: unknown[] = [];
      const worker = writerOf(db);
      const post = worker.postMessage.bind(worker);
      worker.postMessage = (value: unknown, transfer?: readonly import('node:worker_threads').TransferListItem[]) => {
        sent.push(value);
        post(value, transfer);
      };
      await Promise.all([queue.send('a', { n: 1 }), queue.send('b', { n: 2 }), db.pingWriter()]);
      await queue.send('c', { n: 3 });
      expect(sent.map((m) => (m as Array<{ op: string }>).map((r) => r.op))).toEqual([['queue.send', 'queue.send', 'db.ping'], ['queue.send']]);
      expect(await queue.depth()).toBe(3);
    }));

  it('a write that cannot be copied to the thread (a bug) fails alone, surely not done; the others of its turn are answered', () =>
    withDb(async (db) => {
      const queue = queueOn(db);
      await db.pingWriter();
      const bad = db.write('db.ping', (() => 'a function cannot cross') as never).then(() => null, (e: unknown) => e);
      const good = queue.send('a', { n: 1 });
      expect(surelyNotDone(await bad)).toBe(true);
      await good;
      expect(await queue.depth()).toBe(1);
    }));

  it('close right after writes in the same turn: they are sent first, answered and on disk', () =>
    withDb(async (db) => {
      const queue = queueOn(db);
      await db.pingWriter();
      const sends = [queue.send('a', { n: 1 }), queue.send('b', { n: 2 })];
      const closed = db.close();
      await Promise.all(sends); // without the writes going first, they are never answered
      await closed;
      const reopened = new EmbeddedDb(db.path);
      try {
        expect(await queueOn(reopened).depth()).toBe(2);
      } finally {
        await reopened.close();
      }
    }));

  it('the writer thread dies before a write of this turn was sent: that write surely was not done (the client may be told so), and the next writer takes writes', () =>
    withDb(async (db) => {
      await db.pingWriter();
      const old = writerOf(db);
      const unsent = db.pingWriter();
      old.emit('error', new Error('simulated crash')); // as a thread's uncaught error is reported
      const err = await unsent.then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'TemporaryFailure' });
      expect(surelyNotDone(err)).toBe(true);
      await old.terminate();
      await waitFor(async () => db.pingWriter().then(() => true, () => undefined), 5_000);
    }));
});
