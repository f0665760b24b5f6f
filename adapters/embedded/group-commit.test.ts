import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compactSegments, segmentPath, SegmentWriter } from './blob-segments';
import { blobWrites, EmbeddedBlobStore } from './embedded-blob-store';
import { GroupCommit } from './group-commit';
import { EmbeddedDb, openConnection, Statements } from './sqlite';

// Failing disks cannot be made here: fdatasync is replaced, for this file only (vitest hoists
// vi.mock above the imports), by one that a test can make fail or watch; the rest is node:fs.
// fsyncSync is watched too, with the path each descriptor was opened on.
const hooks: { fdatasync: ((fd: number) => void) | null; fsync: ((path: string) => void) | null } = { fdatasync: null, fsync: null };
const openedAt = new Map<number, string>();
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  return {
    ...fs,
    fdatasyncSync: (fd: number) => {
      hooks.fdatasync?.(fd);
      fs.fdatasyncSync(fd);
    },
    openSync: (...args: Parameters<typeof fs.openSync>) => {
      const fd = fs.openSync(...args);
      openedAt.set(fd, String(args[0]));
      return fd;
    },
    fsyncSync: (fd: number) => {
      hooks.fsync?.(openedAt.get(fd) ?? '?');
      fs.fsyncSync(fd);
    },
  };
});

const dirs: string[] = [];
const open: Array<() => void> = [];
afterEach(() => {
  hooks.fdatasync = null;
  hooks.fsync = null;
  for (const close of open.splice(0)) close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The writer thread's transactions, run in this process over a database with the blob store's tables. */
async function writer(segmentMaxBytes = 64 * 1024) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-group-commit-'));
  dirs.push(dir);
  const path = join(dir, 'nimbus.db');
  const edb = new EmbeddedDb(path);
  new EmbeddedBlobStore(edb, dir); // its migrations
  await edb.close();
  const db = openConnection(path, { writer: true });
  const segments = new SegmentWriter(path, segmentMaxBytes);
  const statements = new Statements(db, segments);
  const commits = new GroupCommit(db, statements, segments);
  open.push(() => {
    segments.close();
    db.close();
  });
  const put = (id: number, key: string, size: number) => ({ id, run: (s: typeof statements) => blobWrites['blob.put'](s, { key, size, data: new Uint8Array(size).fill(id) }) });
  const rows = () => db.prepare('SELECT key, seg, off FROM blobs ORDER BY key').all() as Array<{ key: string; seg: number; off: number }>;
  return { db, path, segments, statements, commits, put, rows };
}

const eio = () => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });

describe('GroupCommit: segment bytes reach the disk before the rows that point at them', () => {
  it('the segments are synced inside the transaction, before its COMMIT (also one closed during the batch)', async () => {
    const w = await writer(40_000);
    const seen: boolean[] = [];
    hooks.fdatasync = () => seen.push(w.db.inTransaction);
    expect(w.commits.batch([w.put(1, 'a', 20_000), w.put(2, 'b', 20_000), w.put(3, 'c', 20_000)]).map((r) => r.ok)).toEqual([true, true, true]);
    expect(seen).toEqual([true, true]); // segments 1 and 2, before the commit
    expect(w.rows()).toEqual([{ key: 'a', seg: 1, off: 0 }, { key: 'b', seg: 1, off: 20_000 }, { key: 'c', seg: 2, off: 0 }]);
  });

  it('a sync that fails fails the whole batch (also a segment closed during it); the next batch goes to a new segment', async () => {
    const w = await writer(40_000);
    hooks.fdatasync = () => {
      throw eio();
    };
    // a and b fill segment 1, c begins segment 2: both must sync before the commit
    const results = w.commits.batch([w.put(1, 'a', 20_000), w.put(2, 'b', 20_000), w.put(3, 'c', 20_000)]);
    expect(results.map((r) => [r.ok, r.error?.commitFailed])).toEqual([[false, true], [false, true], [false, true]]);
    expect(w.rows()).toEqual([]);
    hooks.fdatasync = null;
    expect(w.commits.batch([w.put(4, 'd', 20_000)])[0].ok).toBe(true);
    expect(w.rows()).toEqual([{ key: 'd', seg: 3, off: 0 }]); // not 2, which the failed sync left behind
  });

  it('compaction: a segment that cannot be read is left alone (no copies appended), and the others are still compacted', async () => {
    const w = await writer(60_000);
    // three to a segment: 1 = a b c, 2 = d e f, 3 = g h i, 4 = j (open)
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    keys.forEach((key, i) => expect(w.commits.batch([w.put(i + 1, key, 20_000)])[0].ok).toBe(true));
    for (const key of ['a', 'c', 'd', 'e', 'f', 'g', 'h']) w.commits.batch([{ id: 0, run: (s) => blobWrites['blob.delete'](s, { key }) }]);
    // b's row points past the end of its segment (a damaged file): reading it fails
    w.db.prepare("UPDATE blobs SET off = 1000000 WHERE key = 'b'").run();
    const openSize = () => statSync(segmentPath(w.path, 4)).size;
    const before = openSize();
    while (w.commits.idle([compactSegments]));
    expect(w.segments.unreadable).toEqual(new Set([1]));
    expect(w.segments.problems).toEqual([expect.stringContaining('blob segment 1 cannot be read')]); // once, not on every turn
    expect(w.rows().find((r) => r.key === 'b')).toEqual({ key: 'b', seg: 1, off: 1_000_000 });
    expect(w.rows().find((r) => r.key === 'i')).toEqual({ key: 'i', seg: 4, off: before });
    expect(openSize()).toBe(before + 20_000); // i's copy only
    expect(statSync(segmentPath(w.path, 1)).size).toBe(60_000);
    expect(() => statSync(segmentPath(w.path, 2))).toThrow(/ENOENT/);
    expect(() => statSync(segmentPath(w.path, 3))).toThrow(/ENOENT/);
  });

  it('the first segment in a data folder without blobs/: blobs/, the data folder and segments/ are synced before the commit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-group-commit-'));
    dirs.push(dir);
    const segments = new SegmentWriter(join(dir, 'nimbus.db'), 64 * 1024);
    open.push(() => segments.close());
    const synced: string[] = [];
    hooks.fsync = (path) => synced.push(path);
    segments.append(Buffer.alloc(20_000, 7));
    segments.sync();
    expect(synced).toEqual([join(dir, 'blobs'), dir, join(dir, 'blobs', 'segments')]);
  });
});
