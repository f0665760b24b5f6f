import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { describe, expect, it } from 'vitest';
import { installFastDataScan, upstreamFeedDataStream } from './data-scan';

/** Feeds `input` in the given pieces to one SMTPStream in DATA mode; what the data stream got, and the commands after the end. */
async function run(input: Buffer, cuts: number[], feed: 'upstream' | 'patched'): Promise<{ data: string; after: string[] }> {
  const stream = new SMTPStream() as SMTPStream & { _feedDataStream: unknown };
  if (feed === 'upstream') stream._feedDataStream = upstreamFeedDataStream; // an own property shadows the patched prototype
  const after: string[] = [];
  (stream as unknown as { oncommand: (c: Buffer, cb: () => void) => void }).oncommand = (command, callback) => {
    after.push(command.toString('latin1'));
    callback();
  };
  const dataStream = stream.startDataMode(10_000_000);
  const chunks: Buffer[] = [];
  dataStream.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => dataStream.on('end', () => resolve()));
  stream.continue();
  let from = 0;
  for (const at of [...cuts, input.length]) {
    if (at > from) await new Promise<void>((resolve) => stream.write(input.subarray(from, at), () => resolve()));
    from = Math.max(from, at);
  }
  await Promise.race([ended, new Promise((r) => setTimeout(r, 200))]);
  stream.end();
  await new Promise((r) => setImmediate(r));
  return { data: Buffer.concat(chunks).toString('latin1'), after };
}

/** Deterministic pseudo-random numbers (a test must be repeatable). */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const PIECES = ['\r\n', '.', '..', '\r\n.\r\n', '\r\n..\r\n', '\n.\n', '\r.\r\n', 'abc', 'x'.repeat(70), '\r\n.', '.\r\n', '\n', '\r'];

describe('DATA scan with a native search (data-scan.ts)', () => {
  installFastDataScan();

  it('cuts every adversarial message exactly where upstream does, however it is chunked (600 cases)', async () => {
    const random = lcg(20261126);
    let cases = 0;
    for (let n = 0; n < 200; n++) {
      const parts: string[] = [];
      const count = 1 + Math.floor(random() * 30);
      for (let k = 0; k < count; k++) parts.push(PIECES[Math.floor(random() * PIECES.length)]);
      // a terminated message, then a pipelined command
      const input = Buffer.from(parts.join('') + '\r\n.\r\nQUIT\r\n', 'latin1');
      for (let c = 0; c < 3; c++) {
        const cuts = Array.from({ length: Math.floor(random() * 6) }, () => Math.floor(random() * input.length)).sort((a, b) => a - b);
        const [upstream, patched] = [await run(input, cuts, 'upstream'), await run(input, cuts, 'patched')];
        expect(patched, `${JSON.stringify(input.toString('latin1'))} cut at ${cuts}`).toEqual(upstream);
        cases++;
      }
    }
    expect(cases).toBe(600);
  });

  it('a 100 KB message is unstuffed and ended exactly as upstream does', async () => {
    const body = Array.from({ length: 1400 }, (_, i) => (i % 7 === 0 ? '..dot-stuffed line ' : 'line ') + i + ' ' + 'x'.repeat(60)).join('\r\n');
    const input = Buffer.from(body + '\r\n.\r\n', 'latin1');
    const cuts = [1000, 30_000, 65_536, 90_001];
    const upstream = await run(input, cuts, 'upstream');
    expect(upstream.data.length).toBeGreaterThan(90_000);
    expect(await run(input, cuts, 'patched')).toEqual(upstream);
  });
});
