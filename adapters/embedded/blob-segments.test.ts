import { mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SEGMENT_MIN_BYTES, SegmentWriter, segmentPath, segmentsDir } from './blob-segments';
import { EmbeddedBlobStore } from './embedded-blob-store';
import { EmbeddedDb } from './sqlite';
import { waitFor } from '../../test/wait';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-segments-'));
  dirs.push(dir);
  return dir;
}

/** Bytes that differ by key and position, so a blob read from the wrong place shows. */
function bytes(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed * 17) & 255;
  return buf;
}

async function read(stream: Readable | null): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream!) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

function where(db: EmbeddedDb, key: string) {
  return db.db.prepare('SELECT data IS NOT NULL AS inRow, seg, off FROM blobs WHERE key = ?').get(key) as { inRow: number; seg: number | null; off: number | null };
}

const segmentFiles = (dataDir: string) => readdirSync(join(dataDir, 'blobs', 'segments')).sort();

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Store = { db: EmbeddedDb; blobs: EmbeddedBlobStore };

/**
 * A fresh data folder's database and blob store (segments of `segmentMaxBytes`), closed after
 * `fn`; `reopen` closes them (if the test has not) and opens the folder again, as a restart does.
 */
async function withStore(segmentMaxBytes: number | undefined, fn: (db: EmbeddedDb, blobs: EmbeddedBlobStore, dataDir: string, reopen: () => Promise<Store>) => Promise<void>): Promise<void> {
  const dataDir = freshDir();
  const open = (): Store => {
    const db = new EmbeddedDb(join(dataDir, 'nimbus.db'), segmentMaxBytes ? { segmentMaxBytes } : {});
    return { db, blobs: new EmbeddedBlobStore(db, dataDir) };
  };
  let current = open();
  const reopen = async () => {
    await current.db.close();
    current = open();
    return current;
  };
  try {
    await fn(current.db, current.blobs, dataDir, reopen);
  } finally {
    await current.db.close();
  }
}

/** Puts k0, k1, ... of 20 KB each, one after the other; their bytes by key. */
async function fill(blobs: EmbeddedBlobStore, count: number): Promise<Map<string, Buffer>> {
  const want = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    want.set(`k${i}`, bytes(20 * 1024, i));
    await blobs.put(`k${i}`, want.get(`k${i}`)!);
  }
  return want;
}

describe('EmbeddedBlobStore: blobs of middling size live in segment files', () => {
  it('small blobs stay in their row; from SEGMENT_MIN_BYTES up they are appended to a segment, read back exactly', () =>
    withStore(undefined, async (db, blobs) => {
      const small = bytes(SEGMENT_MIN_BYTES - 1, 1);
      const a = bytes(SEGMENT_MIN_BYTES, 2);
      const b = bytes(100 * 1024, 3);
      await blobs.put('small', small);
      await Promise.all([blobs.put('a', a), blobs.put('b', b)]);
      expect(where(db, 'small')).toEqual({ inRow: 1, seg: null, off: null });
      const [atA, atB] = [where(db, 'a'), where(db, 'b')];
      expect(atA.inRow).toBe(0);
      expect(atA.seg).toBe(1);
      expect(atB.seg).toBe(1);
      expect([atA.off, atB.off].sort((x, y) => x! - y!)).toEqual([0, atA.off === 0 ? a.length : b.length]);
      expect(statSync(segmentPath(db.path, 1)).size).toBe(a.length + b.length);
      for (const [key, want] of [['small', small], ['a', a], ['b', b]] as const) {
        expect((await blobs.getBuffer(key))!.equals(want)).toBe(true);
        expect((await read(await blobs.get(key))).equals(want)).toBe(true);
        expect(await blobs.stat(key)).toEqual({ size: want.length });
      }
      await blobs.delete('a');
      expect(await blobs.get('a')).toBeNull();
      expect(await blobs.getBuffer('a')).toBeNull();
      expect((await blobs.getBuffer('b'))!.equals(b)).toBe(true);
    }));

  it('a full segment is closed and the next begun; after a restart appends go on at the end of the last one', () =>
    withStore(64 * 1024, async (db, blobs, dataDir, reopen) => {
      const want = await fill(blobs, 7);
      // 20 KB each, a segment closed once it holds 64 KB or more: four in the first, three in the second
      expect(segmentFiles(dataDir)).toEqual(['00000001.seg', '00000002.seg']);
      expect([...want.keys()].map((k) => where(db, k).seg)).toEqual([1, 1, 1, 1, 2, 2, 2]);

      ({ db, blobs } = await reopen());
      want.set('after', bytes(20 * 1024, 99));
      await blobs.put('after', want.get('after')!);
      expect(where(db, 'after')).toEqual({ inRow: 0, seg: 2, off: 3 * 20 * 1024 });
      for (const [key, buf] of want) expect((await blobs.getBuffer(key))!.equals(buf)).toBe(true);
    }));

  it('compaction: a closed segment mostly deleted has its live blobs moved and is removed; one no row points at is removed', () =>
    withStore(64 * 1024, async (db, blobs, dataDir) => {
      const want = await fill(blobs, 12);
      expect(segmentFiles(dataDir)).toEqual(['00000001.seg', '00000002.seg', '00000003.seg']);
      // segment 1 (k0-k3): one of four left, so compacted; segment 2 (k4-k7): none left; segment 3 (k8-k11, full): three of four left
      for (const key of ['k0', 'k1', 'k2', 'k4', 'k5', 'k6', 'k7', 'k8']) {
        await blobs.delete(key);
        want.delete(key);
      }
      await until(() => !segmentFiles(dataDir).some((f) => f === '00000001.seg' || f === '00000002.seg'), 'segments 1 and 2 to be removed');
      // k3 was copied to a new segment, 3 being full
      expect(segmentFiles(dataDir)).toEqual(['00000003.seg', '00000004.seg']);
      expect(where(db, 'k3')).toEqual({ inRow: 0, seg: 4, off: 0 });
      expect(statSync(segmentPath(db.path, 4)).size).toBe(20 * 1024);
      for (const [key, buf] of want) expect((await blobs.getBuffer(key))!.equals(buf)).toBe(true);
    }));

  it('a segment compaction cannot read is reported to the main thread (onWriterProblem) and left as it is', () =>
    withStore(64 * 1024, async (db, blobs, dataDir) => {
      await fill(blobs, 12);
      const problems: string[] = [];
      db.onWriterProblem = (problem) => problems.push(problem);
      // k3, the one left in segment 1 below, points past the segment's end (a damaged file)
      db.db.prepare("UPDATE blobs SET off = 1000000 WHERE key = 'k3'").run();
      for (const key of ['k0', 'k1', 'k2']) await blobs.delete(key);
      await until(() => problems.length > 0, 'the problem to be reported');
      expect(problems).toEqual([expect.stringMatching(/^blob segment 1 cannot be read \(segment 1 ends before \d+\)/)]);
      expect(segmentFiles(dataDir)).toContain('00000001.seg');
      expect(where(db, 'k3').seg).toBe(1);
    }));

  it('a segment with at least half its bytes live is left as it is, while an empty one beside it is removed', () =>
    withStore(64 * 1024, async (db, blobs, dataDir) => {
      await fill(blobs, 12);
      // segment 1 (k0-k3): half left; segment 2 (k4-k7): none left
      for (const key of ['k0', 'k1', 'k4', 'k5', 'k6', 'k7']) await blobs.delete(key);
      await until(() => !segmentFiles(dataDir).includes('00000002.seg'), 'segment 2 to be removed');
      expect(segmentFiles(dataDir)).toEqual(['00000001.seg', '00000003.seg']);
      expect(where(db, 'k2').seg).toBe(1);
      expect(where(db, 'k3').seg).toBe(1);
    }));

  it('the highest-numbered segment is kept even when empty and not open (its number is never used again)', () =>
    withStore(64 * 1024, async (db, blobs, dataDir, reopen) => {
      await fill(blobs, 12);
      for (let i = 0; i < 12; i++) await blobs.delete(`k${i}`);
      await db.close(); // before the writer was idle for long enough to compact
      expect(segmentFiles(dataDir)).toEqual(['00000001.seg', '00000002.seg', '00000003.seg']);
      // a new writer has no segment open until it appends
      ({ db, blobs } = await reopen());
      await until(() => segmentFiles(dataDir).length === 1, 'segments 1 and 2 to be removed');
      expect(segmentFiles(dataDir)).toEqual(['00000003.seg']);
      await blobs.put('next', bytes(20 * 1024, 42));
      expect(where(db, 'next').seg).toBe(4); // segment 3 was full
    }));

  it('a reader whose row was moved by compaction before it opened the segment reads the row again', () =>
    withStore(64 * 1024, async (db, blobs, dataDir) => {
      const want = bytes(20 * 1024, 5);
      await blobs.put('kept', want);
      const stale = where(db, 'kept');
      for (let i = 0; i < 4; i++) await blobs.put(`gone${i}`, bytes(20 * 1024, i));
      for (let i = 0; i < 4; i++) await blobs.delete(`gone${i}`);
      await until(() => !segmentFiles(dataDir).includes('00000001.seg'), 'segment 1 to be compacted away');
      expect(where(db, 'kept').seg).toBe(2);
      // the row as a reader saw it just before the move: its segment no longer exists
      const store = blobs as unknown as { row(key: string): unknown };
      const row = store.row.bind(blobs);
      let first = true;
      store.row = (key: string) => (first && !(first = false) ? { size: want.length, data: null, seg: stale.seg, off: stale.off } : row(key));
      expect((await read(await blobs.get('kept'))).equals(want)).toBe(true);
      first = true;
      expect((await blobs.getBuffer('kept'))!.equals(want)).toBe(true);
    }));

  // /proc/self/fd lists this process's open files on Linux (where CI runs); elsewhere there is nothing to read
  it.runIf(process.platform === 'linux')('a writer thread that dies leaves none of its files open: its segment and its connection are closed with it', () =>
    withStore(64 * 1024, async (db, blobs, dataDir) => {
      const folder = realpathSync(dataDir) + sep; // the links name resolved paths
      // files only: the writer's idle compaction may have the segments folder open for a moment
      const open = () =>
        readdirSync('/proc/self/fd').flatMap((fd) => {
          try {
            const target = readlinkSync(`/proc/self/fd/${fd}`);
            return target.startsWith(folder) && !target.endsWith(`${sep}segments`) ? [target.slice(folder.length - 1)] : [];
          } catch {
            return []; // closed since it was listed
          }
        });
      const segment = join('/blobs', 'segments', '00000001.seg');
      await db.pingWriter(); // the writer thread has its connection open
      const before = open().filter((f) => f !== segment).sort();
      expect(before.length).toBeGreaterThan(0); // both connections: the listing sees the folder's files
      for (let death = 0; death < 3; death++) {
        await blobs.put(`k${death}`, bytes(20 * 1024, death));
        expect(open()).toContain(segment); // the writer thread appends to it
        await db.killWriter();
        await until(() => !open().includes(segment), 'the dead thread\'s segment to be closed');
        await waitFor(() => db.pingWriter().then(() => true, () => undefined));
      }
      // a new writer thread's own connection, and nothing left over from the three that died
      expect(open().filter((f) => f !== segment).sort()).toEqual(before);
      for (let death = 0; death < 3; death++) expect((await blobs.getBuffer(`k${death}`))!.equals(bytes(20 * 1024, death))).toBe(true);
    }));
});

describe('SegmentWriter', () => {
  it('bytes appended but never committed (a crash before the commit) are left behind: the next writer appends after them', () => {
    const dataDir = freshDir();
    const path = join(dataDir, 'nimbus.db');
    const first = new SegmentWriter(path);
    expect(first.append(bytes(100, 1))).toEqual({ seg: 1, off: 0 });
    first.sync();
    expect(first.append(bytes(50, 2))).toEqual({ seg: 1, off: 100 }); // never synced nor committed
    first.close();
    const second = new SegmentWriter(path);
    expect(second.append(bytes(10, 3))).toEqual({ seg: 1, off: 150 });
    second.close();
    expect(readdirSync(segmentsDir(path))).toEqual(['00000001.seg']);
    expect(second.read(1, 150, 10).equals(bytes(10, 3))).toBe(true);
  });
});

describe('buffers lent to the writer thread', () => {
  it('come back and carry the next blob, of which nothing but its own bytes is stored', async () => {
    await withStore(undefined, async (db, blobs) => {
      expect(db.buffers.pooledBytes).toBe(0);
      // 100 KB (a segment), then 70 KB (a segment) in the buffer that held it
      const first = bytes(100_000, 1);
      await blobs.put('first', first);
      expect(db.buffers.pooledBytes).toBe(131_072); // back from the writer
      const second = bytes(70_000, 2);
      await blobs.put('second', Readable.from([second.subarray(0, 30_000), second.subarray(30_000)]));
      expect(db.buffers.pooledBytes).toBe(131_072); // the same buffer again, not a second one
      // 12 KB, then 10 KB in the same 16 KB buffer: both in their rows
      const third = bytes(12_000, 3);
      const fourth = bytes(10_000, 4);
      await blobs.put('third', third);
      await blobs.put('fourth', fourth);
      expect(db.buffers.pooledBytes).toBe(131_072 + 16_384);
      expect(await read(await blobs.get('first'))).toEqual(first);
      expect(await read(await blobs.get('second'))).toEqual(second);
      expect(await read(await blobs.get('third'))).toEqual(third);
      expect(await read(await blobs.get('fourth'))).toEqual(fourth);
      expect([where(db, 'third').inRow, where(db, 'fourth').inRow]).toEqual([1, 1]);
    });
  });

  it('a blob in many chunks is stored exactly at every size around the segment, buffer and inline limits, also with an inline limit over the largest pooled buffer', async () => {
    const dataDir = freshDir();
    const db = new EmbeddedDb(join(dataDir, 'nimbus.db'));
    try {
      for (const inlineMax of [256 * 1024, 300 * 1024]) {
        const blobs = new EmbeddedBlobStore(db, dataDir, inlineMax);
        const sizes = [0, 1, 4095, 4096, 4097, SEGMENT_MIN_BYTES - 1, SEGMENT_MIN_BYTES, SEGMENT_MIN_BYTES + 1, 65_536, 65_537, 100_000, 256 * 1024, inlineMax - 1, inlineMax, inlineMax + 1, 400_000];
        const seen = new Set<string>();
        for (const size of sizes) {
          for (const chunk of [1000, 7000, 70_000]) {
            const key = `k-${inlineMax}-${size}-${chunk}`;
            const want = bytes(size, size + chunk);
            const pieces: Buffer[] = [];
            for (let at = 0; at < size; at += chunk) pieces.push(want.subarray(at, at + chunk));
            expect(await blobs.put(key, Readable.from(pieces))).toEqual({ size });
            expect((await blobs.getBuffer(key))!.equals(want), key).toBe(true);
            const w = where(db, key);
            const place = w.inRow ? 'row' : w.seg !== null ? 'segment' : 'file';
            expect(place, key).toBe(size > inlineMax ? 'file' : size < SEGMENT_MIN_BYTES ? 'row' : 'segment');
            seen.add(place);
          }
        }
        expect([...seen].sort()).toEqual(['file', 'row', 'segment']);
      }
    } finally {
      await db.close();
    }
  });
});
