import { randomUUID } from 'node:crypto';
import type { Queue, QueueDelivery } from '../../core/ports';
import type { EmbeddedDb } from './sqlite';

const MIGRATIONS = [
  `CREATE TABLE queue_messages (
     queue TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
     visible_at INTEGER NOT NULL, delivery_count INTEGER NOT NULL DEFAULT 0, lock_token TEXT,
     dead INTEGER NOT NULL DEFAULT 0, dead_reason TEXT, last_error TEXT,
     PRIMARY KEY (queue, id));
   CREATE INDEX queue_ready ON queue_messages (queue, dead, visible_at);`,
];

interface Row {
  id: string;
  body: string;
  delivery_count: number;
  lock_token: string;
}

/**
 * A durable queue in SQLite with Service Bus's peek-lock model. It is meant for one
 * process (the local host): on open, locks left by a crashed process are released
 * so their messages are redelivered at once instead of after the lock expires.
 */
export class SqliteQueue<T> implements Queue<T> {
  private listeners: Array<() => void> = [];

  constructor(
    private readonly edb: EmbeddedDb,
    private readonly name: string,
    private readonly opts: { maxDeliveries: number; lockMs: number },
  ) {
    edb.migrate('queue', MIGRATIONS);
    edb.db.prepare('UPDATE queue_messages SET lock_token = NULL, visible_at = 0 WHERE queue = ? AND lock_token IS NOT NULL AND dead = 0').run(name);
  }

  async send(id: string, body: T): Promise<void> {
    const json = JSON.stringify(body);
    const now = Date.now();
    await this.edb.write(() =>
      this.edb.db
        .prepare('INSERT INTO queue_messages (queue, id, body, enqueued_at, visible_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (queue, id) DO NOTHING')
        .run(this.name, id, json, now, now),
    );
    for (const listener of this.listeners) listener();
  }

  onSend(listener: () => void): void {
    this.listeners.push(listener);
  }

  async receive(max: number): Promise<QueueDelivery<T>[]> {
    // Through the group commit: the delivery count must survive a crash, or a message
    // that crashes the worker would be handed out forever.
    const rows = await this.edb.write(() => {
      const now = Date.now();
      const ready = this.edb.db
        .prepare('SELECT id, body, delivery_count FROM queue_messages WHERE queue = ? AND dead = 0 AND visible_at <= ? ORDER BY visible_at, rowid LIMIT ?')
        .all(this.name, now, max) as Array<Omit<Row, 'lock_token'>>;
      const lock = this.edb.db.prepare('UPDATE queue_messages SET lock_token = ?, visible_at = ?, delivery_count = delivery_count + 1 WHERE queue = ? AND id = ?');
      const bury = this.edb.db.prepare("UPDATE queue_messages SET dead = 1, dead_reason = 'MaxDeliveryCountExceeded', lock_token = NULL WHERE queue = ? AND id = ?");
      const out: Row[] = [];
      for (const row of ready) {
        if (row.delivery_count >= this.opts.maxDeliveries) {
          bury.run(this.name, row.id);
          continue;
        }
        const token = randomUUID();
        lock.run(token, now + this.opts.lockMs, this.name, row.id);
        out.push({ ...row, delivery_count: row.delivery_count + 1, lock_token: token });
      }
      return out;
    });
    const deliveries: QueueDelivery<T>[] = [];
    for (const row of rows) {
      let body: T;
      try {
        body = JSON.parse(row.body) as T;
      } catch {
        // an unreadable body can never succeed: dead-letter it now, not after N tries
        await this.deadLetterRaw(row.id, row.lock_token, 'UnparseableBody');
        continue;
      }
      deliveries.push({ id: row.id, body, deliveryCount: row.delivery_count, lockToken: row.lock_token });
    }
    return deliveries;
  }

  async complete(delivery: QueueDelivery<T>): Promise<void> {
    await this.edb.write(() => this.edb.db.prepare('DELETE FROM queue_messages WHERE queue = ? AND id = ? AND lock_token = ?').run(this.name, delivery.id, delivery.lockToken));
  }

  async abandon(delivery: QueueDelivery<T>, opts: { retryInMs?: number; error?: string } = {}): Promise<void> {
    const visibleAt = Date.now() + (opts.retryInMs ?? 0);
    await this.edb.write(() =>
      this.edb.db
        .prepare('UPDATE queue_messages SET lock_token = NULL, visible_at = ?, last_error = ? WHERE queue = ? AND id = ? AND lock_token = ?')
        .run(visibleAt, opts.error?.slice(0, 1000) ?? null, this.name, delivery.id, delivery.lockToken),
    );
  }

  private deadLetterRaw(id: string, lockToken: string, reason: string): Promise<unknown> {
    return this.edb.write(() =>
      this.edb.db
        .prepare('UPDATE queue_messages SET dead = 1, dead_reason = ?, lock_token = NULL WHERE queue = ? AND id = ? AND lock_token = ?')
        .run(reason.slice(0, 1000), this.name, id, lockToken),
    );
  }

  async deadLetter(delivery: QueueDelivery<T>, reason: string): Promise<void> {
    await this.deadLetterRaw(delivery.id, delivery.lockToken, reason);
  }

  async listDeadLetters(): Promise<Array<{ id: string; reason: string; deliveryCount: number }>> {
    const rows = this.edb.db.prepare('SELECT id, dead_reason, delivery_count FROM queue_messages WHERE queue = ? AND dead = 1 ORDER BY rowid').all(this.name) as Array<{ id: string; dead_reason: string; delivery_count: number }>;
    return rows.map((r) => ({ id: r.id, reason: r.dead_reason, deliveryCount: r.delivery_count }));
  }

  async depth(): Promise<number> {
    return (this.edb.db.prepare('SELECT COUNT(*) AS n FROM queue_messages WHERE queue = ? AND dead = 0').get(this.name) as { n: number }).n;
  }

  async ping(): Promise<void> {
    this.edb.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    this.listeners = [];
  }
}
