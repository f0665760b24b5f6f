import { PassThrough, Writable } from 'node:stream';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { describe, expect, it } from 'vitest';
import { TableResolver } from '../../adapters/dns/table-resolver';
import { createLogger } from '../../core/logger';
import type { BlobStore, QueueSender } from '../../core/ports';
import type { InboundQueueMessage } from '../../core/types';
import { TEXT_BODY_CAP } from '../../core/body-cut';
import { inProcessAnalyzer, type MessageAnalyzer } from '../message-analysis';
import { createDataHook } from './data';

/**
 * The DATA hook called as smtp-server calls it, with in-memory stand-ins for the
 * blob store and the queue (their real adapters have their own suites): who is
 * authenticated decides whether mailauth runs.
 */
async function deliver(user: string | undefined, message = 'Authentication-Results: mx.test; dkim=pass\r\nFrom: me@example.com\r\nSubject: s\r\n\r\nbody\r\n') {
  const blobs = new Map<string, Buffer>();
  const sent: InboundQueueMessage[] = [];
  const store = {
    async put(key: string, source: AsyncIterable<Uint8Array>) {
      const chunks: Buffer[] = [];
      for await (const c of source) chunks.push(Buffer.from(c));
      blobs.set(key, Buffer.concat(chunks));
      return { size: blobs.get(key)!.length };
    },
    async delete(key: string) {
      blobs.delete(key);
    },
  } as unknown as BlobStore;
  const queue = { send: async (_id: string, m: InboundQueueMessage) => void sent.push(m) } as unknown as QueueSender<InboundQueueMessage>;
  const resolver = new TableResolver({});
  // counts the bytes the analysis is given
  let analysed = 0;
  const inner = inProcessAnalyzer({ resolver, hostname: 'mx.test', deadlineMs: 5000, logger: createLogger('silent') });
  const analyze: MessageAnalyzer = (client) => {
    const analysis = inner(client);
    const input = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        analysed += chunk.length;
        if (analysis.input.write(chunk)) callback();
        else analysis.input.once('drain', () => callback());
      },
      final(callback) {
        analysis.input.end();
        callback();
      },
    });
    return { ...analysis, input };
  };
  const hook = createDataHook({
    blobs: store,
    queue,
    logger: createLogger('silent'),
    hostname: 'mx.test',
    maxMessageBytes: 5_000_000,
    analyze,
    dmarcReject: false,
  });
  const stream = Object.assign(new PassThrough(), { byteLength: 0, sizeExceeded: false }) as unknown as SMTPServerDataStream;
  const session = {
    id: 's1',
    remoteAddress: '127.0.0.1',
    clientHostname: '[127.0.0.1]',
    hostNameAppearsAs: 'client.test',
    secure: false,
    user,
    envelope: { mailFrom: { address: 'me@example.com', args: false }, rcptTo: [{ address: 'you@elsewhere.test', args: false }] },
  } as unknown as SMTPServerSession;
  const reply = new Promise<Error | null | undefined>((resolve) => hook(stream, session, (err) => resolve(err)));
  // in the pieces smtp-server hands over
  const bytes = Buffer.from(message);
  for (let i = 0; i < bytes.length; i += 65_536) (stream as unknown as PassThrough).write(bytes.subarray(i, i + 65_536));
  (stream as unknown as PassThrough).end();
  expect(await reply).toBeFalsy();
  return { message: sent[0], raw: [...blobs.values()][0].toString(), resolver, analysed };
}

describe('DATA hook and inbound authentication', () => {
  it('authenticated submission (session.user) is not authenticated again: no lookups, no header, auth null', async () => {
    const { message, raw, resolver } = await deliver('alice');
    expect(message.auth).toBeNull();
    expect(message.rawPrefix).toBeNull();
    expect(resolver.queries).toEqual([]);
    expect(raw).not.toContain('Authentication-Results: mx.test'); // a forged one is still removed
  });

  it('mail from outside is: lookups made, auth words and the header kept beside the blob, size counts the header', async () => {
    const { message, raw, resolver } = await deliver(undefined);
    expect(message.auth).toMatchObject({ spf: 'none', dkim: 'none', dmarc: 'none', arc: 'none' });
    expect(message.rawPrefix).toMatch(/^Authentication-Results: mx\.test;\r\n/);
    expect(message.size).toBe(Buffer.byteLength(raw) + Buffer.byteLength(message.rawPrefix!));
    expect(resolver.queries).toContain('TXT example.com');
    expect(raw.startsWith('Received: ')).toBe(true);
    expect(raw).not.toContain('dkim=pass');
  });

  it('the analysis is given only what it reads: of an unsigned single text body the first 16 KB; a signed or multipart message whole', async () => {
    const body = 'word '.repeat(40_000); // 200 KB
    const header = 'From: me@example.com\r\nSubject: long\r\n\r\n';
    const unsigned = await deliver(undefined, header + body);
    expect(unsigned.analysed).toBe(header.length + TEXT_BODY_CAP);
    expect(unsigned.message.summary.snippet).toMatch(/^word word/);
    expect(unsigned.raw.endsWith(body)).toBe(true); // the blob is whole

    const signedHeader = `DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=x; h=from; bh=x; b=x\r\n${header}`;
    expect((await deliver(undefined, signedHeader + body)).analysed).toBe(signedHeader.length + body.length);
    // a submission is not authenticated: its signature does not matter
    expect((await deliver('alice', signedHeader + body)).analysed).toBe(signedHeader.length + TEXT_BODY_CAP);

    const multipart = `From: me@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n${body}\r\n--b--\r\n`;
    const mixed = await deliver(undefined, multipart);
    expect(mixed.analysed).toBe(multipart.length);
  });

  it('a header block over 1 MB is not authenticated (permerror) but the message is kept whole', async () => {
    const big = `X-Big: ${'a'.repeat(1_200_000)}\r\nFrom: me@example.com\r\nSubject: big\r\n\r\nbody\r\n`;
    const { message, raw } = await deliver(undefined, big);
    expect(message.auth).toMatchObject({ dkim: 'permerror', dmarc: 'permerror', spf: 'none' });
    expect(raw.endsWith(big)).toBe(true);
  });
});
