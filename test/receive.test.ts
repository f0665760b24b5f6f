import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listInbox, rawSmtp, splitAuthResults, startTestHost, waitFor, type TestHost } from './helpers';

/** Mail from the internet over real loopback sockets, read back through the HTTP API. */
describe('receive mail end to end', () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(async () => {
    await host.destroy();
  });

  it('nodemailer → SMTP → store → API: subject, from, to, date, text, html, attachments', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({
      from: '"Alice Sender" <alice@sender.test>',
      to: 'Admin <admin@example.com>',
      subject: 'Quarterly report ✓ Ünïcode',
      date: new Date('2026-11-20T10:00:00Z'),
      text: 'Plain body of the report.',
      html: '<p>HTML <b>body</b> of the report.</p>',
      attachments: [
        { filename: 'report.pdf', content: Buffer.from('%PDF-1.4 fake'), contentType: 'application/pdf' },
        { filename: 'notes ü.txt', content: 'some notes' },
      ],
    });
    expect(info.response).toMatch(/^250 2\.6\.0 /);
    const item = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'Quarterly report ✓ Ünïcode'));
    expect(item.from).toEqual({ address: 'alice@sender.test', name: 'Alice Sender' });
    expect(item.to).toEqual([{ address: 'admin@example.com', name: 'Admin' }]);
    expect(item.hasAttachments).toBe(true);
    expect(item.snippet).toBe('Plain body of the report.');

    const full = (await (await host.api(`/mails/${item.id}`, { token: host.token })).json()) as any;
    expect(full.date).toBe('2026-11-20T10:00:00.000Z');
    expect(full.text.trim()).toBe('Plain body of the report.');
    expect(full.html).toContain('<b>body</b>');
    expect(full.attachments.map((a: any) => [a.filename, a.contentType, a.size])).toEqual([
      ['report.pdf', 'application/pdf', 13],
      ['notes ü.txt', 'text/plain', 10],
    ]);
    const download = await host.api(`/mails/${item.id}/attachments/${full.attachments[1].id}`, { token: host.token });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('text/plain');
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="notes _.txt"; filename*=UTF-8''notes%20%C3%BC.txt`);
    expect(await download.text()).toBe('some notes');
  });

  it("Python's smtplib → API", async () => {
    const script = `
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'Bob <bob@python.test>'
m['To'] = 'admin@example.com'
m['Subject'] = 'Sent by smtplib'
m.set_content('Hello from Python')
m.add_attachment(b'\\x00\\x01binary', maintype='application', subtype='octet-stream', filename='blob.bin')
with smtplib.SMTP('127.0.0.1', int(sys.argv[1])) as s:
    print(s.send_message(m))
`;
    // async: a synchronous child would block the event loop the SMTP server runs on
    const { stdout: out } = await promisify(execFile)('python3', ['-c', script, String(host.smtpPort)], { encoding: 'utf8' });
    expect(out.trim()).toBe('{}'); // no refused recipients
    const item = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'Sent by smtplib'));
    expect(item.from).toEqual({ address: 'bob@python.test', name: 'Bob' });
    const full = (await (await host.api(`/mails/${item.id}`, { token: host.token })).json()) as any;
    expect(full.text.trim()).toBe('Hello from Python');
    expect(full.attachments).toHaveLength(1);
    expect(full.attachments[0].filename).toBe('blob.bin');
    const bin = await host.api(`/mails/${item.id}/attachments/${full.attachments[0].id}`, { token: host.token });
    expect(Buffer.from(await bin.arrayBuffer())).toEqual(Buffer.from([0, 1, ...Buffer.from('binary')]));
  });

  it('prepends this host\'s Authentication-Results and one Received header and keeps every other byte (8-bit, bare LF) exactly', async () => {
    const body = Buffer.concat([
      Buffer.from('From: raw@sender.test\r\nTo: admin@example.com\r\nSubject: exact bytes\r\n\r\n'),
      Buffer.from('8-bit: Grüße, 日本語\r\nbare LF follows\nand a bare CR\rend\r\n..leading dot (stuffed)\r\n', 'utf8'),
    ]);
    const replies = await rawSmtp(host.smtpPort, ['EHLO raw.test\r\n', 'MAIL FROM:<raw@sender.test> BODY=8BITMIME\r\n', 'RCPT TO:<admin@example.com>\r\n', 'DATA\r\n', Buffer.concat([body, Buffer.from('.\r\n')]), 'QUIT\r\n'], 7);
    expect(replies[5]).toMatch(/^250 2\.6\.0 Ok: queued as (\w+)$/);
    const queued = /queued as (\w+)/.exec(replies[5])![1];
    const item = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'exact bytes'));
    const served = Buffer.from(await (await host.api(`/mails/${item.id}/raw`, { token: host.token })).arrayBuffer());
    const { authResults, rest: raw } = splitAuthResults(served);
    expect(authResults).toMatch(/^Authentication-Results: mx\.test;\r\n dkim=none/);
    expect(authResults).toContain('spf=none');
    const expected = Buffer.from(body.toString('latin1').replace('\r\n..leading', '\r\n.leading'), 'latin1');
    const headerEnd = raw.indexOf(expected.subarray(0, 20));
    const received = raw.subarray(0, headerEnd).toString();
    expect(received).toMatch(new RegExp(`^Received: from raw\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby mx\\.test \\(Nimbus Mail\\) with ESMTP id ${queued}\\r\\n\\tfor <admin@example\\.com>;\\r\\n\\t\\w{3}, \\d{2} \\w{3} \\d{4} \\d{2}:\\d{2}:\\d{2} \\+0000\\r\\n$`));
    expect(raw.subarray(headerEnd).equals(expected)).toBe(true);
  });

  it('unknown recipient on a hosted domain: 550 5.1.1', async () => {
    const replies = await rawSmtp(host.smtpPort, ['EHLO t\r\n', 'MAIL FROM:<a@sender.test>\r\n', 'RCPT TO:<nobody@example.com>\r\n', 'QUIT\r\n'], 5);
    expect(replies[3]).toMatch(/^550 5\.1\.1 /);
  });

  it('relay attempt (foreign domain, no auth): 554 5.7.1, and nothing is queued', async () => {
    const depth = await host.queue.depth();
    const replies = await rawSmtp(host.smtpPort, ['EHLO t\r\n', 'MAIL FROM:<a@sender.test>\r\n', 'RCPT TO:<victim@gmail.com>\r\n', 'DATA\r\n', 'QUIT\r\n'], 6);
    expect(replies[3]).toMatch(/^554 5\.7\.1 Relay access denied/);
    expect(replies[4]).toMatch(/^503 5\.5\.1 /); // DATA without an accepted recipient
    expect(await host.queue.depth()).toBe(depth);
  });

  it('recipient check fails on a storage fault: 451 4.3.0, never 5xx', async () => {
    const original = host.app.store.resolveAddress;
    host.app.store.resolveAddress = async () => {
      throw new Error('database is locked');
    };
    try {
      const replies = await rawSmtp(host.smtpPort, ['EHLO t\r\n', 'MAIL FROM:<a@sender.test>\r\n', 'RCPT TO:<admin@example.com>\r\n', 'QUIT\r\n'], 5);
      expect(replies[3]).toMatch(/^451 4\.3\.0 /);
    } finally {
      host.app.store.resolveAddress = original;
    }
  });

  it('advertises SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES, STARTTLS (and AUTH, to a client on loopback)', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const chunks: string[] = [];
      const s = connect(host.smtpPort, '127.0.0.1');
      s.on('data', (d: Buffer) => {
        chunks.push(d.toString());
        const all = chunks.join('');
        if (all.startsWith('220') && !all.includes('EHLO-sent')) {
          chunks.push('EHLO-sent');
          s.write('EHLO t\r\n');
        } else if (/\r\n250 [^\r\n]*\r\n$/.test(all)) {
          s.end('QUIT\r\n');
          resolve(all);
        }
      });
      s.on('error', reject);
    });
    for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'SIZE 26214400']) expect(out).toContain(ext);
    expect(out).toContain('STARTTLS');
    // this client is on loopback, where AUTH needs no TLS; a remote one sees it only after STARTTLS (test/submission.test.ts)
    expect(out).toContain('AUTH PLAIN LOGIN');
  });
});
