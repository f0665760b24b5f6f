import { createHash } from 'node:crypto';
import { readdirSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { blobKeys } from '../core/blob-keys';
import { newId } from '../core/ids';
import type { SweepReport } from '../core/orphans';
import type { InboundQueueMessage } from '../core/types';
import { captureLogger, listInbox, startTestHost, waitFor, type TestHost } from './helpers';

const HOUR = 3_600_000;
const GRACE = 24 * HOUR;

/**
 * The orphan sweeper in the local shape, one orphan source at a time: the real
 * host (SQLite, the data folder, the SQLite queue), mail over real SMTP, the API
 * over real HTTP. Sweeps are run with a clock past the grace period (`sweep(now)`),
 * except the one that checks the host's own timer.
 */
describe('orphan sweeper (local shape)', () => {
  let host: TestHost;
  const capture = captureLogger();
  const keys = () => (host.db.db.prepare('SELECT key FROM blobs ORDER BY key').all() as Array<{ key: string }>).map((r) => r.key);
  const later = () => Date.now() + GRACE + 60_000;
  const sweep = (now = later()): Promise<SweepReport> => host.app.orphans.sweep(now);
  const send = (to: string, subject: string) =>
    nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true }).sendMail({ from: 's@sender.test', to, subject, text: `${subject} body` });
  /** The raw key of the queued message with this subject. */
  const queuedKey = async (subject: string) => {
    for await (const body of host.queue.browse()) if (body.summary.subject === subject) return body.rawBlobKey;
    throw new Error(`no queued message "${subject}"`);
  };

  beforeAll(async () => {
    // the worker is driven by hand (messages must wait in the queue), the timer is off (sweeps are run by the test)
    host = await startTestHost({ NIMBUS_WORKER: 'false', NIMBUS_SWEEP_INTERVAL_MINUTES: '0', NIMBUS_BLOB_INLINE_MAX_BYTES: '1024' }, { logger: capture.logger });
  });
  afterAll(async () => {
    await host.destroy();
  });
  afterEach(async () => {
    // every case leaves the store as it found it: nothing but referenced blobs
    const report = await sweep();
    expect(report.orphans).toBe(0);
  });

  it('a blob with no queue message (a crash between the two, or a send of unknown outcome): kept through the grace period, then removed', async () => {
    const key = blobKeys.inbound(newId());
    await host.app.blobs.put(key, Buffer.from('From: a@b\r\nSubject: crashed\r\n\r\nbody\r\n'));
    expect((await host.app.orphans.sweep(Date.now() + GRACE - HOUR)).orphans).toBe(0); // still young
    expect(keys()).toContain(key);
    const report = await sweep();
    expect(report).toMatchObject({ orphans: 1, removed: 1, dryRun: false });
    expect(keys()).not.toContain(key);
    // the log names the blob and counts the sweep
    expect(capture.lines).toEqual(expect.arrayContaining([
      expect.objectContaining({ blobKey: key, msg: 'orphan sweep: removed blob' }),
      expect.objectContaining({ orphans: 1, removed: 1, msg: 'orphan sweep: 1 orphaned blobs removed' }),
    ]));

    // the edge keeps the blob of a send of unknown outcome; nothing was queued, so it is an orphan too
    const original = host.queue.send;
    host.queue.send = async () => {
      throw new Error('connection lost after the request went out');
    };
    const before = keys();
    try {
      await expect(send('admin@example.com', 'unknown outcome')).rejects.toMatchObject({ responseCode: 451 });
    } finally {
      host.queue.send = original;
    }
    const kept = keys().filter((k) => !before.includes(k));
    expect(kept).toHaveLength(1);
    expect(await sweep()).toMatchObject({ orphans: 1, removed: 1 });
    expect(keys()).not.toContain(kept[0]);
  });

  it('a message waiting in the queue keeps its blob, however old; once filed, its copies keep it; once its recipients are gone before filing, it goes', async () => {
    const bob = await host.app.store.createUser({ email: 'bob@example.com', name: 'Bob', passwordHash: 'x', role: 'user' });
    await send('bob@example.com', 'for bob');
    await send('admin@example.com', 'for admin');
    const bobs = await queuedKey('for bob');
    const admins = await queuedKey('for admin');
    expect((await sweep()).orphans).toBe(0); // both wait in the queue
    // bob is deleted before his mail is filed: nothing to file it into
    const users = await host.api('/users', { token: host.token });
    expect(users.status).toBe(200);
    expect((await host.api(`/users/${bob.id}`, { method: 'DELETE', token: host.token })).status).toBe(204);
    host.worker.start();
    await waitFor(async () => ((await host.queue.depth()) === 0 ? true : undefined));
    await host.worker.stop();
    expect((await listInbox(host)).map((m) => m.subject)).toContain('for admin');
    expect(keys()).toContain(bobs);
    const report = await sweep();
    expect(report).toMatchObject({ orphans: 1, removed: 1 });
    expect(keys()).not.toContain(bobs);
    expect(keys()).toContain(admins);
  });

  it('a dead-lettered message does not keep its blob (it is never filed); a live one does', async () => {
    const key = blobKeys.inbound(newId());
    await host.app.blobs.put(key, Buffer.from('Subject: poison\r\n\r\nx\r\n'));
    const message: InboundQueueMessage = {
      id: newId(),
      envelope: { mailFrom: 's@sender.test', rcptTo: ['admin@example.com'], remoteAddress: '127.0.0.1', clientHostname: 'c', helo: 'c', authUser: null },
      rawBlobKey: key,
      size: 20,
      receivedAt: Date.now(),
      summary: { from: null, to: [], cc: [], subject: 'poison', date: null, messageId: null, attachments: [], snippet: '' },
      auth: null,
    };
    await host.queue.send(message.id, message);
    expect((await sweep()).orphans).toBe(0);
    const [delivery] = await host.queue.receive(1);
    expect((await sweep()).orphans).toBe(0); // locked by a consumer: still live
    await host.queue.deadLetter(delivery, 'MaxDeliveryCountExceeded');
    expect(await sweep()).toMatchObject({ orphans: 1, removed: 1 });
    expect(keys()).not.toContain(key);
  });

  it('draft files never saved and draft bytes left behind are removed; a draft\'s own bytes and files stay', async () => {
    const created = await host.api('/mails', { method: 'POST', token: host.token, body: JSON.stringify({ subject: 'keeps its files' }) });
    const { id } = (await created.json()) as { id: string };
    const form = new FormData();
    form.append('file', new Blob(['kept file']), 'kept.txt');
    expect((await fetch(`http://127.0.0.1:${host.httpPort}/api/mails/${id}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${host.token}` }, body: form })).status).toBe(201);
    const admin = (await host.app.store.getUserByEmail('admin@example.com'))!;
    const draft = (await host.app.store.getDraft(admin.id, id))!;
    const ownBytes = (await host.app.store.getMessage(admin.id, id))!.rawBlobKey;
    // what a crash leaves: an upload whose draft save never happened, and draft bytes whose replacement was never cleaned up
    const strayFile = blobKeys.draftFile(newId());
    const strayBytes = blobKeys.draft(newId());
    await host.app.blobs.put(strayFile, Buffer.from('never saved'));
    await host.app.blobs.put(strayBytes, Buffer.alloc(5000, 1)); // a file on disk, not inline
    const report = await sweep();
    expect(report).toMatchObject({ orphans: 2, removed: 2, bytes: 'never saved'.length + 5000 });
    expect(keys()).not.toContain(strayFile);
    expect(keys()).not.toContain(strayBytes);
    expect(keys()).toEqual(expect.arrayContaining([draft.attachments[0].blobKey, ownBytes]));
  });

  it('leftovers of interrupted uploads in blobs/tmp and an index row whose file is gone are removed', async () => {
    const tmp = join(host.dataDir, 'blobs', 'tmp');
    writeFileSync(join(tmp, 'interrupted'), Buffer.alloc(2048));
    const old = new Date(Date.now() - 2 * HOUR);
    utimesSync(join(tmp, 'interrupted'), old, old);
    // a crash between removing a blob's file and its index row
    const key = blobKeys.inbound(newId());
    await host.app.blobs.put(key, Buffer.alloc(4096, 2));
    host.db.db.prepare('UPDATE blobs SET created_at = ? WHERE key = ?').run(Date.now() - 2 * HOUR, key);
    const hash = createHash('sha256').update(key).digest('hex');
    unlinkSync(join(host.dataDir, 'blobs', hash.slice(0, 2), hash));
    const report = await sweep();
    expect(report).toMatchObject({ unfinished: { count: 1, bytes: 2048 }, orphans: 1, removed: 1 });
    expect(readdirSync(tmp)).toEqual([]);
    expect(keys()).not.toContain(key);
  });
});

describe('orphan sweeper settings (local shape)', () => {
  it('NIMBUS_SWEEP_DRY_RUN: orphans are found, counted and named in the log, none removed', async () => {
    const capture = captureLogger();
    const host = await startTestHost({ NIMBUS_SWEEP_DRY_RUN: 'true', NIMBUS_SWEEP_INTERVAL_MINUTES: '0' }, { logger: capture.logger });
    try {
      const key = blobKeys.inbound(newId());
      await host.app.blobs.put(key, Buffer.from('orphan'));
      const report = await host.app.orphans.sweep(Date.now() + GRACE + 60_000);
      expect(report).toMatchObject({ orphans: 1, removed: 0, bytes: 6, dryRun: true });
      expect(await host.app.blobs.stat(key)).toEqual({ size: 6 });
      expect(capture.lines).toEqual(expect.arrayContaining([
        expect.objectContaining({ blobKey: key, size: 6, dryRun: true, msg: 'orphan sweep (dry run): would remove blob' }),
        expect.objectContaining({ orphans: 1, removed: 0, dryRun: true, msg: 'orphan sweep (dry run): 1 orphaned blobs found, none removed' }),
      ]));
    } finally {
      await host.destroy();
    }
  });

  it('the local host sweeps by itself every NIMBUS_SWEEP_INTERVAL_MINUTES, after NIMBUS_ORPHAN_GRACE_HOURS', async () => {
    const host = await startTestHost({ NIMBUS_SWEEP_INTERVAL_MINUTES: '0.01', NIMBUS_ORPHAN_GRACE_HOURS: '1' });
    try {
      const young = blobKeys.inbound(newId());
      const old = blobKeys.inbound(newId());
      await host.app.blobs.put(young, Buffer.from('young orphan'));
      await host.app.blobs.put(old, Buffer.from('old orphan'));
      host.db.db.prepare('UPDATE blobs SET created_at = ? WHERE key = ?').run(Date.now() - 2 * HOUR, old);
      await waitFor(async () => ((await host.app.blobs.stat(old)) === null ? true : undefined));
      expect(await host.app.blobs.stat(young)).not.toBeNull(); // within the grace period
    } finally {
      await host.destroy();
    }
  });
});
