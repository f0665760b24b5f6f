import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { eachChunk } from './streams';

/**
 * eachChunk against `for await`: each scenario runs through both, and these must be the
 * same: the bytes the loop's body saw, whether a chunk came while the work on the one
 * before still ran, how the loop ended (and whether while the work on a chunk ran), and
 * whether the stream was destroyed. Where chunks are cut may differ: `for await` reads
 * what is buffered as one, eachChunk has each as written.
 */
type Seen = { text: string; running: boolean; overlapped: boolean };
type Body = (chunk: Buffer, seen: Seen) => Promise<void> | undefined;
type Scenario = { name: string; feed: (s: PassThrough) => Promise<void>; body: Body };

async function viaForAwait(stream: PassThrough, body: Body, seen: Seen): Promise<void> {
  for await (const chunk of stream) {
    const work = body(chunk as Buffer, seen);
    if (work) await work;
  }
}

async function run(kind: 'for-await' | 'eachChunk', scenario: Scenario) {
  const stream = new PassThrough();
  const seen: Seen = { text: '', running: false, overlapped: false };
  const body: Body = (chunk, s) => {
    if (s.running) s.overlapped = true;
    s.text += String(chunk);
    return scenario.body(chunk, s);
  };
  const loop = kind === 'for-await' ? viaForAwait(stream, body, seen) : eachChunk(stream, (chunk: Buffer) => body(chunk, seen));
  // an ending reported while the work on a chunk still runs shows as such
  const during = () => (seen.running ? ' while work ran' : '');
  const outcome = loop.then(
    () => `resolved${during()}`,
    (err: NodeJS.ErrnoException) => `rejected: ${err.code ?? err.message}${during()}`,
  );
  await scenario.feed(stream);
  const result = await outcome;
  await sleep(5);
  return { text: seen.text, overlapped: seen.overlapped, result, destroyed: stream.destroyed };
}

/** Work that takes a while: a chunk that came before it ended would show as an overlap. */
const slow: Body = (_chunk, seen) => {
  seen.running = true;
  return sleep(3).then(() => void (seen.running = false));
};
const quick: Body = () => undefined;

const scenarios: Scenario[] = [
  { name: 'chunks then the end, no waits', feed: async (s) => void (s.write('a'), s.write('b'), s.end('c')), body: quick },
  { name: 'chunks then the end, each waited for', feed: async (s) => void (s.write('a'), s.write('b'), s.end('c')), body: slow },
  { name: 'chunks that come while the work on one runs', feed: async (s) => { s.write('a'); await sleep(1); s.write('b'); await sleep(1); s.end('c'); }, body: slow },
  { name: 'an error after a chunk whose work runs', feed: async (s) => { s.write('a'); await sleep(1); s.destroy(new Error('boom')); }, body: slow },
  { name: 'a close before the end', feed: async (s) => { s.write('a'); await sleep(10); s.destroy(); }, body: slow },
  { name: 'work that fails', feed: async (s) => { s.write('a'); await sleep(1); s.write('b'); await sleep(1); s.end('c'); }, body: (c) => (String(c).includes('b') ? Promise.reject(Object.assign(new Error('no room'), { code: 'ENOSPC' })) : undefined) },
  { name: 'a body that throws', feed: async (s) => { s.write('a'); await sleep(1); s.end('b'); }, body: (c) => { if (String(c).includes('a')) throw Object.assign(new Error('bad'), { code: 'EBAD' }); return undefined; } },
  { name: 'an empty stream', feed: async (s) => void s.end(), body: quick },
];

describe('eachChunk', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('does what for await does: %s', async (_name, scenario) => {
    const expected = await run('for-await', scenario);
    const got = await run('eachChunk', scenario);
    expect(got).toEqual(expected);
  });

  it('the scenarios cover every ending: each chunk, a wait, an error, a close, a failed and a thrown body', async () => {
    const results = new Set<string>();
    for (const s of scenarios) results.add((await run('eachChunk', s)).result);
    expect([...results].sort()).toEqual(['rejected: EBAD', 'rejected: ENOSPC', 'rejected: ERR_STREAM_PREMATURE_CLOSE', 'rejected: boom', 'resolved']);
  });

  it('the next chunk waits for the work on the one before; the end waits for the last', async () => {
    const stream = new PassThrough();
    const seen: string[] = [];
    let release!: () => void;
    const loop = eachChunk(stream, (chunk: Buffer) => {
      seen.push(String(chunk));
      if (String(chunk) === 'a') return new Promise<void>((r) => (release = r));
      return undefined;
    });
    let ended = false;
    void loop.then(() => (ended = true));
    stream.write('a');
    stream.end('b');
    await sleep(10);
    expect(seen).toEqual(['a']);
    expect(ended).toBe(false);
    release();
    await loop;
    expect(seen).toEqual(['a', 'b']);
  });

  it('a stream that already ended resolves; one destroyed before its end rejects', async () => {
    const ended = Readable.from([Buffer.from('x')]);
    ended.resume();
    await new Promise((r) => ended.once('end', r));
    await expect(eachChunk(ended, () => undefined)).resolves.toBeUndefined();
    const gone = new PassThrough();
    gone.destroy();
    await expect(eachChunk(gone, () => undefined)).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    // destroyed with an error not yet emitted (it comes a tick later): the loop has it, nothing is left uncaught
    const failed = new PassThrough();
    failed.destroy(new Error('broken'));
    await expect(eachChunk(failed, () => undefined)).rejects.toThrow('broken');
    await sleep(5);
  });

  it('an error emitted after the loop gave up on the stream is not left uncaught', async () => {
    const stream = new PassThrough();
    const loop = eachChunk(stream, () => Promise.reject(new Error('no room')));
    stream.write('a');
    await expect(loop).rejects.toThrow('no room');
    stream.destroy(new Error('later'));
    await sleep(5); // an uncaught error here fails the test run
  });

  it('a stream paused before is read, as for await reads it', async () => {
    const stream = new PassThrough();
    stream.pause();
    let text = '';
    const loop = eachChunk(stream, (chunk: Buffer) => void (text += String(chunk)));
    stream.end('abc');
    await loop;
    expect(text).toBe('abc');
  }, 5_000);
});
