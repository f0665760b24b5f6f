import { closeSync, fdatasyncSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Statements } from './sqlite';

/**
 * Segment files: where the embedded blob store keeps raw messages of middling size.
 *
 * A blob kept inside SQLite is written twice, into the write-ahead log and again into the
 * database at checkpoint, each 4 KB page by separate system calls (a 100 KB message cost the
 * writer thread some 100 of them). A blob from `SEGMENT_MIN_BYTES` up is instead appended, in
 * one write, to the open segment file, and its row in `blobs` says where (`seg`, `off`). The
 * writer thread syncs the segment once per group commit, before the commit that adds the rows:
 * so a committed row always points at bytes on disk, and a crash before the commit leaves only
 * bytes no row points at. Such bytes, and those of deleted blobs, are reclaimed by compaction
 * (`compactSegments`, an idle task of the writer): a closed segment whose live bytes fall under
 * half its length has them copied to the open one, and a segment no row points at is removed.
 *
 * Segments sit beside the database file, in blobs/segments/, one file per number, each closed
 * once it reaches `SEGMENT_MAX_BYTES`. Only the writer thread writes them; readers read ranges.
 */
export const SEGMENT_MIN_BYTES = 16 * 1024;
export const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;

export function segmentsDir(dbPath: string): string {
  return join(dirname(dbPath), 'blobs', 'segments');
}

export function segmentPath(dbPath: string, seg: number): string {
  return join(segmentsDir(dbPath), `${String(seg).padStart(8, '0')}.seg`);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The numbers of the segment files in `dir`, ascending. */
export function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((name) => /^(\d{8})\.seg$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The writer thread's appender: one open segment at a time. */
export class SegmentWriter {
  private fd = -1;
  private seg = 0;
  private size = 0;
  private dirty = false;
  readonly dir: string;
  /** Blobs were deleted since compaction last found nothing to do (true at start: the last run may have left some). */
  deleted = true;

  constructor(
    readonly dbPath: string,
    private readonly maxBytes = SEGMENT_MAX_BYTES,
  ) {
    this.dir = segmentsDir(dbPath);
  }

  /** The segment new bytes go to, or null before the first append. */
  get open(): number | null {
    return this.fd >= 0 ? this.seg : null;
  }

  /** Appends `data`; durable only after `sync()`. */
  append(data: Uint8Array): { seg: number; off: number } {
    if (this.fd < 0 || this.size >= this.maxBytes) this.next();
    const off = this.size;
    // positional writes at our own offset: a write that fails half way is overwritten by the next one
    for (let done = 0; done < data.length; ) done += writeSync(this.fd, data, done, data.length - done, off + done);
    this.size += data.length;
    this.dirty = true;
    return { seg: this.seg, off };
  }

  /** Makes every append so far durable: called before the commit whose rows point at them. */
  sync(): void {
    if (!this.dirty) return;
    fdatasyncSync(this.fd);
    this.dirty = false;
  }

  /** Opens the segment to append to: the last one while it has room (after a restart), else a new one. */
  private next(): void {
    if (this.fd >= 0) {
      this.sync();
      closeSync(this.fd);
      this.fd = -1;
      this.seg++;
    } else {
      mkdirSync(this.dir, { recursive: true });
      const last = listSegments(this.dir).pop();
      if (last !== undefined) {
        const fd = openSync(segmentPath(this.dbPath, last), 'r+');
        const size = fstatSync(fd).size;
        if (size < this.maxBytes) {
          this.fd = fd;
          this.seg = last;
          this.size = size;
          return;
        }
        closeSync(fd);
      }
      this.seg = (last ?? 0) + 1;
      fsyncDir(dirname(this.dir)); // the segments folder itself, made above on the first run
    }
    this.fd = openSync(segmentPath(this.dbPath, this.seg), 'wx');
    this.size = 0;
    // the new file's name must be on disk before any row that points at it commits
    fsyncDir(this.dir);
  }

  /** Reads a range of a segment (compaction copies live blobs with it). */
  read(seg: number, off: number, size: number): Buffer {
    const fd = openSync(segmentPath(this.dbPath, seg), 'r');
    try {
      const buf = Buffer.allocUnsafe(size);
      for (let done = 0; done < size; ) {
        const n = readSync(fd, buf, done, size - done, off + done);
        if (n === 0) throw new Error(`segment ${seg} ends before ${off + size}`);
        done += n;
      }
      return buf;
    } finally {
      closeSync(fd);
    }
  }

  /** Removes a segment file (compaction, once no committed row points at it). */
  remove(seg: number): void {
    if (seg === this.seg && this.fd >= 0) return;
    try {
      unlinkSync(segmentPath(this.dbPath, seg));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    this.sync();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Compaction, one small step (the writer's idle task; true while more is waiting). The
 * segment being appended to, and the highest-numbered one, are never touched, so a number
 * is never used twice. A closed segment no committed row points at is removed: this runs
 * first in its transaction, so what it counts is committed. One whose live bytes are under
 * half its length has up to `maxMoves` of its blobs copied to the open segment and their rows
 * moved; a later step, after that commit, removes it once it is empty.
 */
export function compactSegments(s: Statements, maxMoves = 32): boolean {
  const w = s.segments;
  if (!w || !w.deleted) return false;
  const all = listSegments(w.dir);
  const last = all[all.length - 1];
  for (const seg of all) {
    if (seg === last || seg === w.open) continue;
    const live = s.get('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blobs WHERE seg = ?').get(seg) as { n: number; bytes: number };
    if (live.n === 0) {
      w.remove(seg);
      continue;
    }
    if (live.bytes * 2 >= statSync(segmentPath(w.dbPath, seg)).size) continue;
    const rows = s.get('SELECT key, size, off FROM blobs WHERE seg = ? LIMIT ?').all(seg, maxMoves) as Array<{ key: string; size: number; off: number }>;
    const move = s.get('UPDATE blobs SET seg = ?, off = ? WHERE key = ?');
    for (const row of rows) {
      const at = w.append(w.read(seg, row.off, row.size));
      move.run(at.seg, at.off, row.key);
    }
    return true;
  }
  w.deleted = false;
  return false;
}
