import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, corpusFiles } from './corpus-files';
import { listInbox, splitAuthResults, startTestHost, waitFor, type TestHost } from './helpers';

/** Messages in the corpus when it was copied in; fewer means files went missing. */
const CORPUS_SIZE = 196;

/** What nodemailer puts on the wire for a raw message: every line ending CRLF, a final CRLF added if missing. */
function asSent(file: Buffer): Buffer {
  let text = file.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
  if (!text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text, 'latin1');
}

describe('the real-world corpus survives SMTP → store → API', () => {
  let host: TestHost;
  const files = corpusFiles();
  const queuedAs = new Map<string, string>(); // inbound id → file

  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(async () => {
    await host?.destroy();
  });

  it('finds the whole corpus in test/fixtures/corpus', () => {
    expect(files.length, `corpus missing or incomplete at ${CORPUS}`).toBeGreaterThanOrEqual(CORPUS_SIZE);
  });

  it('every message is accepted with 250 (none lost, none rejected)', async () => {
    expect(files.length, 'an empty corpus proves nothing').toBeGreaterThanOrEqual(CORPUS_SIZE);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true, pool: true, maxConnections: 4, maxMessages: Infinity });
    try {
      await Promise.all(
        files.map(async (file) => {
          const info = await transport.sendMail({ envelope: { from: 'corpus@sender.test', to: ['admin@example.com'] }, raw: readFileSync(file) });
          const match = /^250 2\.6\.0 Ok: queued as (\w+)$/.exec(info.response);
          expect(match, `${relative(CORPUS, file)}: ${info.response}`).not.toBeNull();
          queuedAs.set(match![1], file);
        }),
      );
    } finally {
      transport.close();
    }
    expect(queuedAs.size).toBe(files.length);
  });

  it('raw bytes read back identical below this host\'s Authentication-Results and Received headers; subject and attachments match mailparser', async () => {
    const items = await waitFor(async () => {
      const list = await listInbox(host);
      return list.length >= files.length ? list : undefined;
    }, 60_000);
    expect(files.length, 'an empty corpus proves nothing').toBeGreaterThanOrEqual(CORPUS_SIZE);
    expect(items).toHaveLength(files.length);
    const problems: string[] = [];
    for (const item of items) {
      const { authResults, rest: raw } = splitAuthResults(Buffer.from(await (await host.api(`/mails/${item.id}/raw`, { token: host.token })).arrayBuffer()));
      if (!authResults?.startsWith('Authentication-Results: mx.test;')) problems.push(`${item.id}: no Authentication-Results of this host first`);
      // our header ends with its date line; what follows is the message as sent (which may itself start with whitespace)
      const header = /^Received: [^]*? id (\w+)[^]*?;\r\n\t\w{3}, [^\r\n]+\r\n/.exec(raw.toString('latin1'));
      const file = header ? queuedAs.get(header[1]) : undefined;
      if (!header || !file) {
        problems.push(`${item.id}: no Received header with a known id`);
        continue;
      }
      const name = relative(CORPUS, file);
      const original = readFileSync(file);
      if (!raw.subarray(header[0].length).equals(asSent(original))) problems.push(`${name}: raw bytes differ`);

      const reference = await simpleParser(original, { keepCidLinks: true });
      const full = (await (await host.api(`/mails/${item.id}`, { token: host.token })).json()) as { subject: string; attachments: Array<{ filename: string | null }> };
      if (full.subject !== (reference.subject ?? '')) problems.push(`${name}: subject ${JSON.stringify(full.subject.slice(0, 80))}… differs from mailparser's`);
      const want = reference.attachments.map((a) => a.filename ?? null);
      const got = full.attachments.map((a) => a.filename);
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${name}: attachments ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
      // the list summary (parsed while streaming) agrees on the attachment count
      if (item.hasAttachments !== want.length > 0) problems.push(`${name}: hasAttachments ${item.hasAttachments} but ${want.length} attachments`);
    }
    expect(problems).toEqual([]);
  }, 180_000);
});
