import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { corpusFiles } from '../test/corpus-files';
import { originalMessageParser as originals } from './mailauth';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { MessageParser } = require('mailauth/lib/dkim/message-parser') as { MessageParser: new () => { writeAsync(chunk: Buffer): Promise<void>; finish(): Promise<void>; byteLength: number } };

// loads mailauth through core/mailauth, which puts its replacements on the prototype
const originalMessageParser = originals();

/** What a DKIM verifier or signer sees: the header block it found and the body bytes handed on, in order. */
interface Seen {
  header: string | null;
  keys: string[];
  body: string;
  byteLength: number;
}

/** Feeds `chunks` to a MessageParser that records what it sees; `original` swaps in mailauth's own methods. */
async function run(chunks: Buffer[], original: boolean): Promise<Seen> {
  const seen: Seen = { header: null, keys: [], body: '', byteLength: 0 };
  class Recorder extends MessageParser {
    async messageHeaders(headers: { original: Buffer; parsed: Array<{ key: string; line: Buffer }> }) {
      seen.header = headers.original.toString('latin1');
      seen.keys = headers.parsed.map((h) => `${h.key}=${h.line.toString('latin1')}`);
    }
    async nextChunk(chunk: Buffer) {
      seen.body += chunk.toString('latin1');
    }
  }
  const parser = new Recorder() as InstanceType<typeof Recorder> & Record<string, unknown>;
  if (original) Object.assign(parser, originalMessageParser);
  for (const chunk of chunks) await parser.writeAsync(chunk);
  await parser.finish();
  seen.byteLength = parser.byteLength;
  return seen;
}

function split(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) out.push(buf.subarray(at, at + size));
  return out;
}

/** Chunk sizes that put boundaries everywhere (small ones over the start only: that is where the header ends). */
function chunkings(message: Buffer): Buffer[][] {
  const start = message.subarray(0, 16 * 1024);
  return [[message], ...[1, 2, 3, 5, 7].map((n) => split(start, n)), ...[64, 1000, 65536].map((n) => split(message, n))];
}

describe('mailauth MessageParser replacement (core/mailauth.ts)', () => {
  const files = corpusFiles();

  it('sees the same header and body as mailauth’s own code, over the corpus in every chunking, with LF and CRLF line ends', async () => {
    expect(files.length).toBeGreaterThan(150);
    let compared = 0;
    for (const file of files) {
      const raw = readFileSync(file).subarray(0, 256 * 1024);
      const crlf = Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
      for (const message of [raw, crlf]) {
        for (const chunks of chunkings(message)) {
          const mine = await run(chunks, false);
          expect(mine, file).toEqual(await run(chunks, true));
          compared++;
        }
      }
    }
    expect(compared).toBe(files.length * 2 * 9);
  });

  it('keeps the quirks: header ends split across chunks, a bare LF after CR LF, an empty header, no blank line at all', async () => {
    const cases = [
      'A: 1\r\n\r\nbody\r\n',
      'A: 1\n\nbody\n',
      'A: 1\r\n\nbody',
      '\r\n\r\nbody\r\n',
      '\n\nbody',
      '\r\nA: 1\r\n\r\nb',
      'A: 1\r\nB: 2\r\n',
      'A: 1\r\r\n\r\nb\r\n\n\nc',
      'A: 1\n \tfolded\n\n\n\r\n',
      '',
      '\n',
    ];
    for (const text of cases) {
      const message = Buffer.from(text, 'latin1');
      for (let size = 1; size <= Math.max(1, message.length); size++) {
        const chunks = split(message, size);
        expect(await run(chunks, false), JSON.stringify({ text, size })).toEqual(await run(chunks, true));
      }
    }
  });

  it('finds the header as mailauth does (the replacement is in place)', async () => {
    const seen = await run([Buffer.from('Subject: x\r\n\r\nhello\r\n')], false);
    expect(seen).toEqual({ header: 'Subject: x\r\n\r\n', keys: ['subject=Subject: x'], body: 'hello\r\n', byteLength: 21 });
    expect(MessageParser.prototype).not.toHaveProperty('processChunk', originalMessageParser.processChunk);
  });
});
