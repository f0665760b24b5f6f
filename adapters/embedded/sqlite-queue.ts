import { randomUUID } from 'node:crypto';
import type { Queue, QueueDelivery } from '../../core/ports';
import type { EmbeddedDb, Statements } from './sqlite';

const MIGRATIONS = [
  `CREATE TABLE queue_messages (
     queue TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
     visible_at INTEGER NOT NULL, delivery_count INTEGER NOT NULL DEFAULT 0, lock_token TEXT,
     dead INTEGER NOT NULL DEFAULT 0, dead_reason TEXT, last_error TEXT,
     PRIMARY KEY (queue, id));
   CREATE INDEX queue_ready ON queue_messages (queue, dead, visible_at);`,
  // A body lives in its own table, written once and removed once. In the row with the lock and
  // the delivery count, every receive rewrote it whole: an inbound message's body (its summary,
  // with up to 4 KB of text for search) fills an overflow page, so each receive wrote a page
  // that had not changed (a sixth of the pages the writer wrote for a 4 KB message).
  `CREATE TABLE queue_bodies (queue TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (queue, id));
   INSERT INTO queue_bodies (queue, id, body) SELECT queue, id, body FROM queue_messages;
   ALTER TABLE queue_messages DROP COLUMN body;`,
];

interface Row {
  id: string;
  /** null: the body is missing (never written by this code; dead-lettered as unreadable). */
  body: string | null;
  delivery_count: number;
  lock_token: string;
  /** The body was left out: the sending queue holds it (SqliteQueue's handOff), under this token. */
  handed?: number;
}

/**
 * Per queue, the messages whose first receive leaves the body out, because the SqliteQueue
 * that sent them holds it, with the token it holds it under. Lives on the writer thread; a new
 * writer thread knows of none, and then the bodies are read as usual. The marks are a hint:
 * one lost costs a read. A send whose commit failed leaves its mark (nothing receives it), so
 * past MAX_MARKS they are all dropped rather than piling up through a long disk fault.
 */
const handedOver = new Map<string, Map<string, number>>();
const MAX_MARKS = 10_000;

/** A stored body, read on the writer thread (a receive) or on the main thread (a body left out but not kept there). */
const BODY_OF = 'SELECT body FROM queue_bodies WHERE queue = ? AND id = ?';

interface PendingCompletion {
  id: string;
  lockToken: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Locked {
  queue: string;
  id: string;
  lockToken: string;
}

/** The queue's writes; they run on EmbeddedDb's writer thread. */
export const queueWrites = {
  /** `hand`: the sender keeps the body for the first receive, under this token. Returns whether the message is new (a send again under the same id changes nothing). */
  'queue.send'(s: Statements, a: { queue: string; id: string; body: string; now: number; visibleAt: number; hand?: number }): boolean {
    const added = s.get('INSERT INTO queue_messages (queue, id, enqueued_at, visible_at) VALUES (?, ?, ?, ?) ON CONFLICT (queue, id) DO NOTHING').run(a.queue, a.id, a.now, a.visibleAt);
    // a send again under the same id changes nothing, as before (Service Bus's duplicate detection)
    if (!added.changes) return false;
    // (a body left without its row, which nothing here leaves, is replaced rather than failing every send under that id)
    s.get('INSERT INTO queue_bodies (queue, id, body) VALUES (?, ?, ?) ON CONFLICT (queue, id) DO UPDATE SET body = excluded.body').run(a.queue, a.id, a.body);
    if (a.hand !== undefined) {
      let marks = handedOver.get(a.queue);
      if (!marks) handedOver.set(a.queue, (marks = new Map()));
      if (marks.size >= MAX_MARKS) marks.clear();
      marks.set(a.id, a.hand);
    }
    return true;
  },
  /** Locks up to `max` visible messages; one received too often is dead-lettered instead. */
  'queue.receive'(s: Statements, a: { queue: string; max: number; lockMs: number; maxDeliveries: number }): Row[] {
    const now = Date.now();
    const ready = s
      .get('SELECT id, delivery_count FROM queue_messages WHERE queue = ? AND dead = 0 AND visible_at <= ? ORDER BY visible_at, rowid LIMIT ?')
      .all(a.queue, now, a.max) as Array<Pick<Row, 'id' | 'delivery_count'>>;
    const readBody = s.get(BODY_OF).pluck();
    const marks = handedOver.get(a.queue);
    const lock = s.get('UPDATE queue_messages SET lock_token = ?, visible_at = ?, delivery_count = delivery_count + 1 WHERE queue = ? AND id = ?');
    const bury = s.get("UPDATE queue_messages SET dead = 1, dead_reason = 'MaxDeliveryCountExceeded', lock_token = NULL WHERE queue = ? AND id = ?");
    const out: Row[] = [];
    for (const row of ready) {
      if (row.delivery_count >= a.maxDeliveries) {
        bury.run(a.queue, row.id);
        continue;
      }
      const token = randomUUID();
      lock.run(token, now + a.lockMs, a.queue, row.id);
      const base = { id: row.id, delivery_count: row.delivery_count + 1, lock_token: token };
      const mark = marks?.get(row.id);
      if (mark !== undefined) {
        marks!.delete(row.id);
        out.push({ ...base, body: null, handed: mark });
      } else out.push({ ...base, body: (readBody.get(a.queue, row.id) as string | undefined) ?? null });
    }
    return out;
  },
  /** Several at once: a worker completes a whole batch in the same moment (SqliteQueue.complete gathers them). */
  'queue.complete'(s: Statements, a: { queue: string; items: Array<{ id: string; lockToken: string }> }): void {
    const remove = s.get('DELETE FROM queue_messages WHERE queue = ? AND id = ? AND lock_token = ?');
    const removeBody = s.get('DELETE FROM queue_bodies WHERE queue = ? AND id = ?');
    for (const item of a.items) if (remove.run(a.queue, item.id, item.lockToken).changes) removeBody.run(a.queue, item.id);
  },
  'queue.abandon'(s: Statements, a: Locked & { visibleAt: number; error: string | null }): void {
    s.get('UPDATE queue_messages SET lock_token = NULL, visible_at = ?, last_error = ? WHERE queue = ? AND id = ? AND lock_token = ?').run(a.visibleAt, a.error, a.queue, a.id, a.lockToken);
  },
  'queue.deadLetter'(s: Statements, a: Locked & { reason: string }): void {
    s.get('UPDATE queue_messages SET dead = 1, dead_reason = ?, lock_token = NULL WHERE queue = ? AND id = ? AND lock_token = ?').run(a.reason, a.queue, a.id, a.lockToken);
  },
};

/**
 * A durable queue in SQLite with Service Bus's peek-lock model. It is meant for one
 * process (the local host): on open, locks left by a crashed process are released
 * so their messages are redelivered at once instead of after the lock expires.
 */
export class SqliteQueue<T> implements Queue<T> {
  private listeners: Array<() => void> = [];
  private completing: PendingCompletion[] | null = null;
  /** handOff: the bodies of messages sent here and not yet received, by id, each under the token its send gave the writer thread. */
  private readonly handed = new Map<string, { body: T; token: number }>();
  private nextToken = 1;

  /**
   * `handOff` (a number, the most kept at once; 0 or absent: none): the body given to send is
   * kept and is what the message's first receive returns, the same object, instead of a copy
   * read back from the database and parsed. For the local host's inbound queue, which this
   * process both fills and drains: it saves the body's trip back from the writer thread and its
   * parse, and one object a message instead of two. Who sends must not change a body after.
   * Past the most, messages are sent as without it (a backlog is read back from the database);
   * every later receive (after an abandon, a new writer thread or a restart) reads the stored body.
   * A body is used only by the receive that finds its own send's token: a send that timed out
   * and is sent again under the same id (duplicate detection keeps the first body) gets the
   * stored body. One SqliteQueue per queue in a process: a message another one receives leaves
   * its body kept here, taking one of the places.
   */
  constructor(
    private readonly edb: EmbeddedDb,
    private readonly name: string,
    private readonly opts: { maxDeliveries: number; lockMs: number; handOff?: number },
  ) {
    edb.migrate('queue', MIGRATIONS);
    edb.db.prepare('UPDATE queue_messages SET lock_token = NULL, visible_at = 0 WHERE queue = ? AND lock_token IS NOT NULL AND dead = 0').run(name);
  }

  async send(id: string, body: T, opts: { notBefore?: number } = {}): Promise<void> {
    const now = Date.now();
    const token = this.handed.size < (this.opts.handOff ?? 0) && !this.handed.has(id) ? this.nextToken++ : undefined;
    if (token !== undefined) this.handed.set(id, { body, token });
    const mine = () => token !== undefined && this.handed.get(id)?.token === token;
    try {
      const added = await this.edb.write('queue.send', { queue: this.name, id, body: JSON.stringify(body), now, visibleAt: Math.max(now, opts.notBefore ?? now), hand: token });
      if (!added && mine()) this.handed.delete(id); // a send again under an id already queued: its first body stands
    } catch (err) {
      if (mine()) this.handed.delete(id); // if it was stored after all, its first receive reads the body
      throw err;
    }
    for (const listener of this.listeners) listener();
  }

  onSend(listener: () => void): void {
    this.listeners.push(listener);
  }

  async receive(max: number): Promise<QueueDelivery<T>[]> {
    // a write: the delivery count must survive a crash, or a message that crashes the worker would be handed out forever
    const rows = await this.edb.write('queue.receive', { queue: this.name, max, lockMs: this.opts.lockMs, maxDeliveries: this.opts.maxDeliveries });
    const deliveries: QueueDelivery<T>[] = [];
    for (const row of rows) {
      const kept = this.handed.get(row.id);
      this.handed.delete(row.id);
      const body = row.handed !== undefined && kept?.token === row.handed ? { value: kept.body } : await this.storedBody(row);
      if (body) deliveries.push({ id: row.id, body: body.value, deliveryCount: row.delivery_count, lockToken: row.lock_token });
    }
    return deliveries;
  }

  /** A received message's body from the database; null when there is none to give now (the message went back to the queue, or to the dead letters). */
  private async storedBody(row: Row): Promise<{ value: T } | null> {
    const locked = { queue: this.name, id: row.id, lockToken: row.lock_token };
    let json = row.body;
    if (row.handed !== undefined) {
      // left out, but not kept here under that send's token (its answer was lost): read on this thread's connection
      try {
        json = (this.edb.stmt(BODY_OF).pluck().get(this.name, row.id) as string | undefined) ?? null;
      } catch (err) {
        // the read failed, not the message: back to the queue for a later receive
        await this.edb.write('queue.abandon', { ...locked, visibleAt: Date.now() + 1000, error: `reading the body failed: ${(err as Error).message}` }).catch(() => undefined);
        return null;
      }
    }
    try {
      if (json === null) throw new Error('no body');
      return { value: JSON.parse(json) as T };
    } catch {
      // an unreadable body can never succeed: dead-letter it now, not after N tries
      await this.edb.write('queue.deadLetter', { ...locked, reason: 'UnparseableBody' });
      return null;
    }
  }

  /**
   * Completions asked for in one go (a worker's whole batch, with Promise.all) travel to
   * the writer as one write: one message across threads instead of one per delivery.
   */
  complete(delivery: QueueDelivery<T>): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.completing) {
        const batch: PendingCompletion[] = (this.completing = []);
        queueMicrotask(() => {
          this.completing = null;
          this.edb.write('queue.complete', { queue: this.name, items: batch.map(({ id, lockToken }) => ({ id, lockToken })) }).then(
            () => batch.forEach((c) => c.resolve()),
            (err) => batch.forEach((c) => c.reject(err)),
          );
        });
      }
      this.completing.push({ id: delivery.id, lockToken: delivery.lockToken, resolve, reject });
    });
  }

  async abandon(delivery: QueueDelivery<T>, opts: { retryInMs?: number; error?: string } = {}): Promise<void> {
    await this.edb.write('queue.abandon', { queue: this.name, id: delivery.id, lockToken: delivery.lockToken, visibleAt: Date.now() + (opts.retryInMs ?? 0), error: opts.error?.slice(0, 1000) ?? null });
  }

  async deadLetter(delivery: QueueDelivery<T>, reason: string): Promise<void> {
    await this.edb.write('queue.deadLetter', { queue: this.name, id: delivery.id, lockToken: delivery.lockToken, reason: reason.slice(0, 1000) });
  }

  async listDeadLetters(): Promise<Array<{ id: string; reason: string; deliveryCount: number }>> {
    const rows = this.edb.stmt('SELECT id, dead_reason, delivery_count FROM queue_messages WHERE queue = ? AND dead = 1 ORDER BY rowid').all(this.name) as Array<{ id: string; dead_reason: string; delivery_count: number }>;
    return rows.map((r) => ({ id: r.id, reason: r.dead_reason, deliveryCount: r.delivery_count }));
  }

  async *browse(): AsyncIterable<T> {
    // the page is chosen first, then its bodies read: joined before the LIMIT, SQLite read and sorted every live row's body for each page
    const page = this.edb.stmt(
      'SELECT m.r, b.body FROM (SELECT rowid AS r, queue, id FROM queue_messages WHERE queue = ? AND dead = 0 AND rowid > ? ORDER BY rowid LIMIT 500) m LEFT JOIN queue_bodies b ON b.queue = m.queue AND b.id = m.id ORDER BY m.r',
    );
    for (let after = 0; ; ) {
      const rows = page.all(this.name, after) as Array<{ r: number; body: string | null }>;
      for (const row of rows) {
        try {
          if (row.body !== null) yield JSON.parse(row.body) as T;
        } catch {
          // an unreadable body refers to nothing; the worker dead-letters it
        }
      }
      if (rows.length < 500) return;
      after = rows[rows.length - 1].r;
    }
  }

  async depth(): Promise<number> {
    return (this.edb.stmt('SELECT COUNT(*) AS n FROM queue_messages WHERE queue = ? AND dead = 0').get(this.name) as { n: number }).n;
  }

  async ping(): Promise<void> {
    this.edb.stmt('SELECT 1').get();
  }

  async close(): Promise<void> {
    this.listeners = [];
  }
}
