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
  /** Bytes appended to the open segment since its last sync. */
  private dirty = false;
  /** A segment was made (or reopened after a restart) since the folder was last fsync'd: its name may not be on disk yet. */
  private dirDirty = false;
  /** Segments closed since the last sync: synced, then closed, by the next sync. */
  private closed: number[] = [];
  /** After a failed sync the open segment is given up: the next append begins a new one. */
  private abandoned = false;
  /** Segments compaction emptied in the transaction under way: removed once it commits. */
  private retired: number[] = [];
  /** The names of segments/ and blobs/ were synced by this thread. */
  private foldersDurable = false;
  /** Segments compaction could not read: left alone until the thread restarts. */
  readonly unreadable = new Set<number>();
  /** What went wrong that nobody has been told yet: the writer thread hands these to the main thread's log. */
  readonly problems: string[] = [];
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

  /**
   * Makes every append so far durable, names included: called before the commit whose rows
   * point at them. When it fails, that commit must not happen (its writes are undone, their
   * bytes become garbage), and the open segment is given up: Linux reports a failed writeback
   * once, so a later fdatasync of the same file could succeed over bytes that never made it.
   */
  sync(): void {
    const closed = this.closed;
    this.closed = [];
    try {
      if (this.dirDirty) {
        fsyncDir(this.dir);
        this.dirDirty = false;
      }
      for (const fd of closed) fdatasyncSync(fd);
      if (this.dirty) fdatasyncSync(this.fd);
      this.dirty = false;
    } catch (err) {
      this.abandon();
      throw err;
    } finally {
      for (const fd of closed) closeSync(fd);
    }
  }

  private abandon(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.dirty = false;
    this.abandoned = true;
    this.deleted = true; // the garbage left behind is compaction's
  }

  /** Opens the segment to append to: the last one while it has room (after a restart), else a new one. */
  private next(): void {
    if (this.fd >= 0) {
      // synced with the rest of the batch, before its commit
      if (this.dirty) this.closed.push(this.fd);
      else closeSync(this.fd);
      this.fd = -1;
      this.dirty = false;
    }
    mkdirSync(this.dir, { recursive: true });
    if (!this.foldersDurable) {
      // segments/ and blobs/ may be new, or made by a run that stopped before syncing them (or by
      // the main thread, still syncing): their names go to disk before any row points into them
      fsyncDir(dirname(this.dir));
      fsyncDir(dirname(dirname(this.dir)));
      this.foldersDurable = true;
    }
    const last = listSegments(this.dir).pop() ?? 0;
    if (last > 0 && !this.abandoned) {
      const fd = openSync(segmentPath(this.dbPath, last), 'r+');
      const size = fstatSync(fd).size;
      if (size < this.maxBytes) {
        this.fd = fd;
        this.seg = last;
        this.size = size;
        this.dirDirty = true; // made by an earlier thread, which may have died before its folder was synced
        return;
      }
      closeSync(fd);
    }
    this.fd = openSync(segmentPath(this.dbPath, last + 1), 'wx');
    this.seg = last + 1;
    this.size = 0;
    this.dirDirty = true;
    this.abandoned = false;
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

  /** Compaction found no row pointing at `seg`: removed once the transaction that counted commits. */
  retire(seg: number): void {
    this.retired.push(seg);
  }

  removeRetired(): void {
    for (const seg of this.retired.splice(0)) {
      try {
        unlinkSync(segmentPath(this.dbPath, seg));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  /** The transaction that counted did not commit. */
  keepRetired(): void {
    this.retired = [];
  }

  close(): void {
    if (this.fd >= 0 || this.closed.length) this.sync();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Compaction, one small step (the writer's idle task; true while more is waiting). The
 * segment being appended to, and the highest-numbered one, are never touched, so a number
 * is never used twice. A closed segment no row points at is retired (removed after the
 * commit). One whose live bytes are under half its length has up to `maxMoves` of its
 * blobs read, then copied to the open segment and their rows moved; a later step, after
 * that commit, retires it once it is empty. A segment that cannot be read is left alone
 * (its rows stay as they are) rather than tried again on every idle turn.
 */
export function compactSegments(s: Statements, maxMoves = 32): boolean {
  const w = s.segments;
  if (!w || !w.deleted) return false;
  const all = listSegments(w.dir);
  const last = all[all.length - 1];
  for (const seg of all) {
    if (seg === last || seg === w.open || w.unreadable.has(seg)) continue;
    const live = s.get('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM blobs WHERE seg = ?').get(seg) as { n: number; bytes: number };
    if (live.n === 0) {
      w.retire(seg);
      continue;
    }
    if (live.bytes * 2 >= statSync(segmentPath(w.dbPath, seg)).size) continue;
    const rows = s.get('SELECT key, size, off FROM blobs WHERE seg = ? LIMIT ?').all(seg, maxMoves) as Array<{ key: string; size: number; off: number }>;
    let copies: Buffer[];
    try {
      // all read before any is appended: a segment that cannot be read leaves no copies behind
      copies = rows.map((row) => w.read(seg, row.off, row.size));
    } catch (err) {
      w.unreadable.add(seg);
      w.problems.push(`blob segment ${seg} cannot be read (${err instanceof Error ? err.message : String(err)}): it is left as it is and not compacted until the writer thread restarts; reading the blobs it holds may fail`);
      continue;
    }
    const move = s.get('UPDATE blobs SET seg = ?, off = ? WHERE key = ?');
    rows.forEach((row, i) => {
      const at = w.append(copies[i]);
      move.run(at.seg, at.off, row.key);
    });
    return true;
  }
  // retired ones go with this step's commit; nothing else waits
  w.deleted = false;
  return false;
}
