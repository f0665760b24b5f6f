import { spawn } from 'node:child_process';
import { startLoopbackDnsServer } from '../adapters/dns/loopback-dns-server';
import { once } from 'node:events';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fileInbound } from '../core/inbound';
import { createLogger } from '../core/logger';
import { InboundWorker } from '../local/worker';
import { PASSWORD, listInbox, rawSmtp, startTestHost, waitFor, type TestHost } from './helpers';

const DATA_START = ['EHLO faults.test\r\n', 'MAIL FROM:<s@sender.test>\r\n', 'RCPT TO:<admin@example.com>\r\n', 'DATA\r\n'];
const message = (subject: string, body = 'hello') => `From: s@sender.test\r\nTo: admin@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n.\r\n`;
const count = (host: TestHost, table: string) => (host.db.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('SMTP bad input and faults', () => {
  let host: TestHost;
  beforeAll(async () => {
    // small limits so the cases are cheap; inline max below the size limit so the file path is exercised too
    host = await startTestHost({ NIMBUS_MAX_MESSAGE_BYTES: '20000', NIMBUS_MAX_RECIPIENTS: '2', NIMBUS_BLOB_INLINE_MAX_BYTES: '4096' });
  });
  afterAll(async () => {
    await host.destroy();
  });
  afterEach(() => {
    host.db.failWrites = null;
  });

  it('oversize message: 552 5.3.4 after the final dot; nothing stored, no temp file left', async () => {
    const before = { blobs: count(host, 'blobs'), queue: count(host, 'queue_messages'), bodies: count(host, 'queue_bodies') };
    const big = message('too big', 'x'.repeat(76) + '\r\n'.repeat(1) + ('y'.repeat(78) + '\r\n').repeat(400));
    const replies = await rawSmtp(host.smtpPort, [...DATA_START, big, 'QUIT\r\n'], 7);
    expect(replies[5]).toMatch(/^552 5\.3\.4 /);
    expect(replies[6]).toMatch(/^221 /); // the session goes on normally
    expect(count(host, 'blobs')).toBe(before.blobs);
    expect(count(host, 'queue_messages')).toBe(before.queue);
    expect(count(host, 'queue_bodies')).toBe(before.bodies);
    expect(readdirSync(join(host.dataDir, 'blobs', 'tmp'))).toEqual([]);
  });

  it('oversize declared in MAIL FROM SIZE=: 552 5.3.4 before any data', async () => {
    const replies = await rawSmtp(host.smtpPort, ['EHLO t\r\n', 'MAIL FROM:<s@sender.test> SIZE=20001\r\n', 'QUIT\r\n'], 4);
    expect(replies[2]).toMatch(/^552 5\.3\.4 /);
  });

  it('too many recipients: 452 4.5.3 for the one over the limit; the accepted ones still get the mail', async () => {
    await host.app.store.createUser({ email: 'second@example.com', name: 'Second', passwordHash: 'x', role: 'user' });
    await host.app.store.createUser({ email: 'third@example.com', name: 'Third', passwordHash: 'x', role: 'user' });
    const replies = await rawSmtp(
      host.smtpPort,
      ['EHLO t\r\n', 'MAIL FROM:<s@sender.test>\r\n', 'RCPT TO:<admin@example.com>\r\n', 'RCPT TO:<second@example.com>\r\n', 'RCPT TO:<third@example.com>\r\n', 'DATA\r\n', message('two of three'), 'QUIT\r\n'],
      9,
    );
    expect(replies[3]).toMatch(/^250 2\.1\.5 /);
    expect(replies[4]).toMatch(/^250 2\.1\.5 /);
    expect(replies[5]).toMatch(/^452 4\.5\.3 /);
    expect(replies[7]).toMatch(/^250 2\.6\.0 /);
    const third = (await host.app.store.getUserByEmail('third@example.com'))!;
    const second = (await host.app.store.getUserByEmail('second@example.com'))!;
    await waitFor(async () => ((await host.app.store.findMailboxBySpecialUse(second.id, 'inbox'))!.total === 1 ? true : undefined));
    expect((await host.app.store.findMailboxBySpecialUse(third.id, 'inbox'))!.total).toBe(0);
  });

  it.each([
    ['bare LF . LF', '\n.\n'],
    ['CR LF . LF', '\r\n.\n'],
    ['LF . CR LF', '\n.\r\n'],
    ['CR . CR LF', '\r.\r\n'],
  ])('SMTP smuggling with %s neither ends DATA early nor starts a second message', async (_name, fake) => {
    const subject = `smuggle ${JSON.stringify(fake)}`;
    const payload = `From: s@sender.test\r\nTo: admin@example.com\r\nSubject: ${subject}\r\n\r\nbefore${fake}MAIL FROM:<evil@sender.test>\r\nRCPT TO:<admin@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n`;
    const replies = await rawSmtp(host.smtpPort, [...DATA_START, payload, 'QUIT\r\n'], 8, 3000);
    // greeting, EHLO, MAIL, RCPT, 354, one 250 for the whole message, then QUIT's 221: nothing in between
    expect(replies).toHaveLength(7);
    expect(replies[5]).toMatch(/^250 2\.6\.0 /);
    expect(replies[6]).toMatch(/^221 /);
    const item = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === subject));
    const raw = await (await host.api(`/mails/${item.id}/raw`, { token: host.token })).text();
    expect(raw).toContain(`before${fake}MAIL FROM:<evil@sender.test>`);
    expect((await listInbox(host)).filter((m) => m.subject === 'smuggled')).toHaveLength(0);
  });

  it('BlobStore failure mid-stream: 451 4.3.0, nothing queued, nothing filed', async () => {
    const before = { queue: count(host, 'queue_messages'), bodies: count(host, 'queue_bodies'), messages: count(host, 'messages') };
    const original = host.app.blobs.put;
    host.app.blobs.put = async (_key, source) => {
      for await (const _chunk of source as AsyncIterable<Uint8Array>) throw new Error('disk on fire');
      return { size: 0 };
    };
    try {
      const replies = await rawSmtp(host.smtpPort, [...DATA_START, message('blob fails'), 'QUIT\r\n'], 7);
      expect(replies[5]).toMatch(/^451 4\.3\.0 /);
    } finally {
      host.app.blobs.put = original;
    }
    expect(count(host, 'queue_messages')).toBe(before.queue);
    expect(count(host, 'queue_bodies')).toBe(before.bodies);
    expect(count(host, 'messages')).toBe(before.messages);
  });

  it('Queue refusing the message after the blob is stored (surely not queued): 451 4.3.0 and the blob is removed again', async () => {
    const before = { blobs: count(host, 'blobs'), messages: count(host, 'messages'), queue: count(host, 'queue_messages'), bodies: count(host, 'queue_bodies') };
    const original = host.queue.send;
    // the real write path refusing (a full disk): the database says the write surely did not happen
    host.queue.send = async (id, body) => {
      host.db.failWrites = new Error('SQLITE_FULL');
      try {
        return await original.call(host.queue, id, body);
      } finally {
        host.db.failWrites = null;
      }
    };
    try {
      const replies = await rawSmtp(host.smtpPort, [...DATA_START, message('queue fails'), 'QUIT\r\n'], 7);
      expect(replies[5]).toMatch(/^451 4\.3\.0 /);
    } finally {
      host.queue.send = original;
    }
    expect(count(host, 'blobs')).toBe(before.blobs);
    expect(count(host, 'messages')).toBe(before.messages);
    expect(count(host, 'queue_messages')).toBe(before.queue);
    expect(count(host, 'queue_bodies')).toBe(before.bodies);
  });

  it('Queue send of unknown outcome (it may have been queued): 451 4.3.0 and the blob is kept for it', async () => {
    const before = count(host, 'blobs');
    const original = host.queue.send;
    host.queue.send = async () => {
      throw new Error('connection lost after the request went out');
    };
    try {
      const replies = await rawSmtp(host.smtpPort, [...DATA_START, message('queue unknown'), 'QUIT\r\n'], 7);
      expect(replies[5]).toMatch(/^451 4\.3\.0 /);
    } finally {
      host.queue.send = original;
    }
    expect(count(host, 'blobs')).toBe(before + 1);
  });

  it('the disk refusing every write: 451 4.3.0 (a temporary fault is never 5xx)', async () => {
    host.db.failWrites = new Error('SQLITE_FULL');
    const replies = await rawSmtp(host.smtpPort, [...DATA_START, message('disk full'), 'QUIT\r\n'], 7);
    expect(replies[5]).toMatch(/^451 4\.3\.0 /);
  });

  it('a client that disconnects mid-DATA leaves no blob, no temp file and no queue message', async () => {
    const before = { blobs: count(host, 'blobs'), queue: count(host, 'queue_messages'), bodies: count(host, 'queue_bodies') };
    await rawSmtp(host.smtpPort, [...DATA_START, 'From: s@sender.test\r\nSubject: cut\r\n\r\n' + 'z'.repeat(8000)], 5, 300);
    await new Promise((r) => setTimeout(r, 200));
    expect(count(host, 'blobs')).toBe(before.blobs);
    expect(count(host, 'queue_messages')).toBe(before.queue);
    expect(count(host, 'queue_bodies')).toBe(before.bodies);
    expect(readdirSync(join(host.dataDir, 'blobs', 'tmp'))).toEqual([]);
  });

  it('mail to two addresses of one user is filed once', async () => {
    const admin = (await host.app.store.getUserByEmail('admin@example.com'))!;
    host.db.db.prepare('INSERT INTO addresses (address, user_id) VALUES (?, ?)').run('postmaster@example.com', admin.id);
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true });
    await t.sendMail({ from: 's@sender.test', to: ['admin@example.com', 'postmaster@example.com'], subject: 'to both', text: 'x' });
    await waitFor(async () => ((await listInbox(host)).some((m) => m.subject === 'to both') ? true : undefined));
    await new Promise((r) => setTimeout(r, 100));
    expect((await listInbox(host)).filter((m) => m.subject === 'to both')).toHaveLength(1);
  });
});

describe('queue delivery guarantees', () => {
  it('a redelivered queue message does not create a second copy', async () => {
    const host = await startTestHost({ NIMBUS_WORKER: 'false' });
    try {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true });
      await t.sendMail({ from: 's@sender.test', to: 'admin@example.com', subject: 'once only', text: 'x' });
      // first delivery: filed, then the consumer "dies" before completing it
      const [first] = await host.queue.receive(10);
      await fileInbound(host.app.store, [first.body], createLogger('silent'));
      await host.queue.abandon(first);
      // redelivered and processed by the real worker
      host.worker.start();
      await waitFor(async () => ((await host.queue.depth()) === 0 ? true : undefined));
      expect((await listInbox(host)).filter((m) => m.subject === 'once only')).toHaveLength(1);
    } finally {
      await host.destroy();
    }
  });

  it('a worker that stops after the 250 (locked, unfiled) still delivers after restart', async () => {
    const first = await startTestHost({ NIMBUS_WORKER: 'false' });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: first.smtpPort, ignoreTLS: true });
    const info = await t.sendMail({ from: 's@sender.test', to: 'admin@example.com', subject: 'survives restart', text: 'x' });
    expect(info.response).toMatch(/^250 /);
    await first.queue.receive(10); // taken and locked by a worker that then dies
    await first.stop();
    const second = await startTestHost({}, { dataDir: first.dataDir });
    try {
      const item = await waitFor(async () => (await listInbox(second)).find((m) => m.subject === 'survives restart'));
      expect(item).toBeDefined();
    } finally {
      await second.destroy();
    }
  });

  it('the server process killed (SIGKILL) right after the 250 still delivers after restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-kill-'));
    // its DNS (inbound SPF/DMARC, domain checks) goes to a loopback server, never out
    const dns = await startLoopbackDnsServer();
    // the real built server in its own process (npm test builds first), worker off so the message waits in the queue
    const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'local', 'main.js')], {
      env: { ...process.env, NIMBUS_DATA_DIR: dataDir, NIMBUS_SMTP_PORT: '0', NIMBUS_SUBMISSION_PORT: '0', NIMBUS_SUBMISSION_TLS_PORT: '0', NIMBUS_HTTP_PORT: '0', NIMBUS_WORKER: 'false', NIMBUS_LOG_LEVEL: 'silent', NIMBUS_DNS_SERVERS: dns.address },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      const ports = await waitFor(() => {
        const smtp = /SMTP {2}127\.0\.0\.1:(\d+)/.exec(out);
        const http = /HTTP {2}http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        return smtp && http ? { smtp: Number(smtp[1]), http: Number(http[1]) } : undefined;
      }, 30_000); // a loaded machine: the process starts (and makes its certificate) slowly
      const setup = await fetch(`http://127.0.0.1:${ports.http}/api/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Admin' }),
      });
      expect(setup.status).toBe(201);
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: ports.smtp, ignoreTLS: true });
      const info = await t.sendMail({ from: 's@sender.test', to: 'admin@example.com', subject: 'killed after 250', text: 'x' });
      expect(info.response).toMatch(/^250 /);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
      await dns.stop();
    }
    const host = await startTestHost({}, { dataDir });
    try {
      await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'killed after 250'), 30_000);
    } finally {
      await host.destroy();
    }
  });

  it('a poison queue message is dead-lettered without blocking the others', async () => {
    const host = await startTestHost({ NIMBUS_WORKER: 'false' });
    try {
      const poison = (id: string, body: string | null) => {
        host.db.db.prepare("INSERT INTO queue_messages (queue, id, enqueued_at, visible_at) VALUES ('inbound', ?, 0, 0)").run(id);
        if (body !== null) host.db.db.prepare("INSERT INTO queue_bodies (queue, id, body) VALUES ('inbound', ?, ?)").run(id, body);
      };
      poison('poison-1', '{not json');
      poison('poison-2', '{"id":42}');
      poison('poison-3', null); // a row whose body is missing
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true });
      await t.sendMail({ from: 's@sender.test', to: 'admin@example.com', subject: 'after poison', text: 'x' });
      host.worker.start();
      await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'after poison'));
      const dead = await host.queue.listDeadLetters();
      expect(dead.map((d) => [d.id, d.reason])).toEqual([
        ['poison-1', 'UnparseableBody'],
        ['poison-2', 'InvalidInboundMessage'],
        ['poison-3', 'UnparseableBody'],
      ]);
    } finally {
      await host.destroy();
    }
  });

  it('filing that keeps failing is retried with backoff, then dead-lettered after the max deliveries', async () => {
    const host = await startTestHost({ NIMBUS_WORKER: 'false', NIMBUS_QUEUE_MAX_DELIVERIES: '3' });
    try {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true });
      await t.sendMail({ from: 's@sender.test', to: 'admin@example.com', subject: 'never files', text: 'x' });
      const original = host.app.store.fileMessages;
      host.app.store.fileMessages = async () => {
        throw new Error('store down');
      };
      const worker = new InboundWorker(host.app.store, host.queue, createLogger('silent'), { retryBaseMs: 10, idlePollMs: 10 });
      worker.start();
      const dead = await waitFor(async () => {
        const list = await host.queue.listDeadLetters();
        return list.length ? list : undefined;
      });
      await worker.stop();
      host.app.store.fileMessages = original;
      expect(dead[0]).toMatchObject({ reason: 'MaxDeliveryCountExceeded', deliveryCount: 3 });
    } finally {
      await host.destroy();
    }
  });
});
