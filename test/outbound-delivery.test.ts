import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBlobStore } from '../adapters/embedded/embedded-blob-store';
import { EmbeddedDb } from '../adapters/embedded/sqlite';
import { SqliteMailStore } from '../adapters/embedded/sqlite-mail-store';
import { SqliteQueue } from '../adapters/embedded/sqlite-queue';
import { buildBounce, statusOf } from '../core/bounce';
import { createLogger } from '../core/logger';
import { processOutbound, retryDelayMs, type DeliverDeps } from '../core/outbound';
import type { DeliveryOutcome, OutboundTransport } from '../core/ports';
import type { OutboundQueueMessage, User } from '../core/types';

/**
 * core/outbound.ts's decisions after an attempt, on the embedded store and queue. The
 * transport here is a script of outcomes (simulated: this tests what the core does
 * with each outcome; the real transports are tested against loopback peers in
 * adapters/outbound/outbound.contract.test.ts).
 */
class ScriptedTransport implements OutboundTransport {
  readonly name = 'smtp' as const;
  calls = 0;
  constructor(public next: Omit<DeliveryOutcome, 'recipient'>) {}
  async send(input: { recipients: string[] }) {
    this.calls++;
    return input.recipients.map((recipient) => ({ recipient, ...this.next }));
  }
  health() {
    return { status: 'ok' as const, detail: null };
  }
  async close() {}
}

describe('outbound delivery decisions', () => {
  let dir: string;
  let db: EmbeddedDb;
  let store: SqliteMailStore;
  let blobs: EmbeddedBlobStore;
  let queue: SqliteQueue<OutboundQueueMessage>;
  let user: User;
  let n = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-outbound-'));
    db = new EmbeddedDb(join(dir, 'nimbus.db'));
    store = new SqliteMailStore(db);
    blobs = new EmbeddedBlobStore(db, dir, 64 * 1024);
    queue = new SqliteQueue<OutboundQueueMessage>(db, 'outbound', { maxDeliveries: 5, lockMs: 60_000 });
    user = await store.setup({ domain: 'example.com', email: 'ann@example.com', name: 'Ann', passwordHash: 'x' });
  });
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A sent copy with one queued recipient, and the outbound message for it. */
  async function prepare(opts: { mailFrom?: string; submittedAt?: number } = {}): Promise<OutboundQueueMessage> {
    const id = `t${++n}`;
    const raw = Buffer.from(`From: ann@example.com\r\nTo: x@elsewhere.test\r\nSubject: case ${id}\r\n\r\nbody\r\n`);
    await blobs.put(`raw/${id}`, raw);
    const sent = (await store.findMailboxBySpecialUse(user.id, 'sent'))!;
    const [copy] = await store.fileMessages([
      { userId: user.id, mailboxId: sent.id, inboundId: `sent:${id}`, rawBlobKey: `raw/${id}`, size: raw.length, receivedAt: Date.now(), seen: true, auth: null, delivery: [{ recipient: 'x@elsewhere.test', status: 'queued', attempts: 0, nextAttemptAt: null, detail: null }], summary: { from: null, to: [], cc: [], subject: `case ${id}`, date: null, messageId: null, attachments: [], snippet: '' } },
    ]);
    return { id: `${id}.0.0`, submissionId: id, userId: user.id, sentMessageId: copy.id, mailFrom: opts.mailFrom ?? 'ann@example.com', recipients: ['x@elsewhere.test'], rawBlobKey: `raw/${id}`, dkimSignature: null, submittedAt: opts.submittedAt ?? Date.now(), attempts: 0 };
  }
  const deps = (transport: OutboundTransport, lifetimeMs = 3_600_000): DeliverDeps => ({ store, blobs, transport, outboundQueue: queue, logger: createLogger('silent'), policy: { scheduleMs: [60_000, 300_000], lifetimeMs }, hostname: 'mx.test' });
  const bounces = async () => (await store.listMessages(user.id, { mailboxId: (await store.findMailboxBySpecialUse(user.id, 'inbox'))!.id, limit: 100 })).items.filter((m) => m.summary.subject === 'Undelivered Mail Returned to Sender');

  it('the schedule: each wait in turn, the last one repeating', () => {
    const policy = { scheduleMs: [1, 5, 15], lifetimeMs: 1000 };
    expect([1, 2, 3, 4, 9].map((a) => retryDelayMs(policy, a))).toEqual([1, 5, 15, 15, 15]);
  });

  it('a permanent failure of a message from the null sender is never bounced', async () => {
    const message = await prepare({ mailFrom: '' });
    const before = (await bounces()).length;
    await processOutbound(deps(new ScriptedTransport({ outcome: 'permanent', detail: '550 5.1.1 no' })), message);
    expect((await store.getMessage(user.id, message.sentMessageId))!.delivery![0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await bounces()).length).toBe(before);
  });

  it('the same attempt processed twice (a redelivered queue message) files one bounce, schedules one retry', async () => {
    const message = await prepare();
    const before = (await bounces()).length;
    const transport = new ScriptedTransport({ outcome: 'permanent', detail: '550 5.1.1 no' });
    await processOutbound(deps(transport), message);
    await processOutbound(deps(transport), message);
    expect((await bounces()).length).toBe(before + 1);

    const deferredMessage = await prepare();
    const depth = await queue.depth();
    const temporary = new ScriptedTransport({ outcome: 'temporary', detail: '451 later' });
    await processOutbound(deps(temporary), deferredMessage);
    await processOutbound(deps(temporary), deferredMessage);
    expect(await queue.depth()).toBe(depth + 1); // the retry's id is fixed by the attempt: Service Bus and SQLite drop the duplicate
  });

  it('a misconfigured transport keeps the message deferred past its lifetime and never bounces (it is our fault, not the recipient\'s)', async () => {
    const message = await prepare({ submittedAt: Date.now() - 10 * 3_600_000 });
    const before = (await bounces()).length;
    await processOutbound(deps(new ScriptedTransport({ outcome: 'misconfigured', detail: 'SendGrid 401: bad key' }), 3_600_000), message);
    const [d] = (await store.getMessage(user.id, message.sentMessageId))!.delivery!;
    expect(d).toMatchObject({ status: 'deferred', detail: 'transport misconfigured: SendGrid 401: bad key' });
    expect((await bounces()).length).toBe(before);
    // the same temporary failure past the lifetime does bounce
    const expired = await prepare({ submittedAt: Date.now() - 10 * 3_600_000 });
    await processOutbound(deps(new ScriptedTransport({ outcome: 'temporary', detail: '421 4.3.2 busy' }), 3_600_000), expired);
    expect((await store.getMessage(user.id, expired.sentMessageId))!.delivery![0].status).toBe('failed');
    expect((await bounces()).length).toBe(before + 1);
  });

  it('held (no transport): waits for its next attempt within the lifetime; past it, failed with a bounce that says why', async () => {
    const before = (await bounces()).length;
    const fresh = await prepare();
    await processOutbound(deps(new ScriptedTransport({ outcome: 'held', detail: '' }), 3_600_000), fresh);
    const [waiting] = (await store.getMessage(user.id, fresh.sentMessageId))!.delivery!;
    expect(waiting).toMatchObject({ status: 'held', attempts: 1, detail: expect.stringMatching(/no outbound transport is configured/) });
    expect(waiting.nextAttemptAt).not.toBeNull();
    const waitingIds: string[] = [];
    for await (const m of queue.browse()) waitingIds.push(m.id);
    expect(waitingIds).toContain(`${fresh.submissionId}.0.1`);
    expect((await bounces()).length).toBe(before);
    const old = await prepare({ submittedAt: Date.now() - 10 * 3_600_000 });
    await processOutbound(deps(new ScriptedTransport({ outcome: 'held', detail: '' }), 3_600_000), old);
    const [given] = (await store.getMessage(user.id, old.sentMessageId))!.delivery!;
    expect(given).toMatchObject({ status: 'failed', nextAttemptAt: null, detail: expect.stringMatching(/^not sent: no outbound transport was configured in 10 h/) });
    expect((await bounces()).length).toBe(before + 1);
  });

  it("a transport's retry-after (SendGrid's X-RateLimit-Reset) later than the schedule's wait sets the next attempt; an earlier one does not", async () => {
    const now = Date.now();
    const visibleAt = (id: string) => (db.stmt("SELECT visible_at AS v FROM queue_messages WHERE queue = 'outbound' AND id = ?").get(id) as { v: number }).v;
    const late = await prepare();
    await processOutbound(deps(new ScriptedTransport({ outcome: 'temporary', detail: 'SendGrid 429', retryAfterMs: 900_000 })), late, now);
    expect((await store.getMessage(user.id, late.sentMessageId))!.delivery![0]).toMatchObject({ status: 'deferred', nextAttemptAt: now + 900_000 });
    expect(visibleAt(`${late.submissionId}.0.1`)).toBe(now + 900_000); // the retry is not handed out before then
    const early = await prepare();
    await processOutbound(deps(new ScriptedTransport({ outcome: 'temporary', detail: 'SendGrid 429', retryAfterMs: 5_000 })), early, now);
    expect((await store.getMessage(user.id, early.sentMessageId))!.delivery![0].nextAttemptAt).toBe(now + 60_000); // the schedule's first wait
    expect(visibleAt(`${early.submissionId}.0.1`)).toBe(now + 60_000);
  });

  it('a message whose bytes are gone (lost storage): failed with that reason, nothing sent', async () => {
    const message = await prepare();
    await blobs.delete(message.rawBlobKey);
    const transport = new ScriptedTransport({ outcome: 'sent', detail: '250 ok' });
    await processOutbound(deps(transport), message);
    expect(transport.calls).toBe(0);
    expect((await store.getMessage(user.id, message.sentMessageId))!.delivery![0]).toMatchObject({ status: 'failed', detail: "the message's bytes are gone; it cannot be sent" });
  });

  it('a bounce: the status from the reply (4.4.7 when expired), no header injection from a hostile reply', () => {
    expect(statusOf('550 5.7.26 unauthenticated', false)).toBe('5.7.26');
    expect(statusOf('SendGrid 400: bad', false)).toBe('5.0.0');
    expect(statusOf('451 4.7.1 later', true)).toBe('4.4.7');
    const raw = buildBounce({ hostname: 'mx.test', to: 'ann@example.com', recipients: [{ recipient: 'x@elsewhere.test', detail: '550 bad\r\nX-Injected: yes', expired: false }], original: Buffer.from('Subject: hi\r\n\r\nbody'), submittedAt: 0, now: 0 }).toString();
    expect(raw).not.toMatch(/^X-Injected/m);
    expect(raw).toContain('Diagnostic-Code: smtp; 550 bad X-Injected: yes');
    expect(raw).toMatch(/^Auto-Submitted: auto-replied\r$/m);
  });
});
