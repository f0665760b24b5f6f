import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { MailError } from '../../core/errors';
import { eachChunk } from '../../core/streams';
import type { BlobInfo, BlobStore } from '../../core/ports';
import type { EmbeddedDb, Statements } from './sqlite';
import { SEGMENT_MIN_BYTES, segmentPath } from './blob-segments';

const MIGRATIONS = [
  `CREATE TABLE blobs (key TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB, created_at INTEGER NOT NULL);`,
  // a blob in a segment file (blob-segments.ts): which one, and where in it
  `ALTER TABLE blobs ADD COLUMN seg INTEGER;
   ALTER TABLE blobs ADD COLUMN off INTEGER;
   CREATE INDEX blobs_seg ON blobs (seg) WHERE seg IS NOT NULL;`,
];

/** The blob index's writes; they run on EmbeddedDb's writer thread. */
export const blobWrites = {
  'blob.put'(s: Statements, args: { key: string; size: number; data: Uint8Array | null }): void {
    // a Buffer arrives from another thread as a plain Uint8Array; SQLite binds Buffers
    let data = args.data ? Buffer.from(args.data.buffer, args.data.byteOffset, args.data.byteLength) : null;
    let at: { seg: number; off: number } | null = null;
    if (data && data.length >= SEGMENT_MIN_BYTES && s.segments) {
      at = s.segments.append(data);
      data = null;
    }
    s.get('INSERT INTO blobs (key, size, data, seg, off, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET size = excluded.size, data = excluded.data, seg = excluded.seg, off = excluded.off, created_at = excluded.created_at').run(
      args.key,
      args.size,
      data,
      at?.seg ?? null,
      at?.off ?? null,
      Date.now(),
    );
  },
  'blob.delete'(s: Statements, args: { key: string }): void {
    s.get('DELETE FROM blobs WHERE key = ?').run(args.key);
    if (s.segments) s.segments.deleted = true;
  },
};

interface Row {
  size: number;
  data: Buffer | null;
  seg: number | null;
  off: number | null;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * BlobStore on the data folder. Small objects (up to `inlineMaxBytes`) are handed to
 * the writer thread whole, so they ride the group commit with no fsync of their own:
 * under SEGMENT_MIN_BYTES inside their row, from there on appended to a segment file
 * (blob-segments.ts) that is synced before that commit. Larger
 * ones stream to a temporary file that is fsync'd, then its index row commits,
 * then it is renamed into place. Either way `put` resolves only once the bytes are
 * on disk. That order (and delete's: file first, then row) means a crash can leave
 * an index row without a file, which list() shows and the orphan sweeper removes,
 * or a temporary file, which removeUnfinished() removes, but never a file that
 * nothing lists.
 */
export class EmbeddedBlobStore implements BlobStore {
  private readonly dir: string;
  private readonly tmpDir: string;
  /**
   * Folders made (or first used) by this process whose own names are on disk: their parent
   * was fsync'd since. A file renamed into a folder is on disk only once the folder's name is,
   * and the folder may be new, or made by a run that stopped before it synced it. Every put
   * into a folder waits for the same sync; one that failed is tried again by the next put.
   */
  private readonly durable = new Map<string, Promise<void>>();

  constructor(
    private readonly edb: EmbeddedDb,
    dataDir: string,
    private readonly inlineMaxBytes = 256 * 1024,
  ) {
    edb.migrate('blob-store', MIGRATIONS);
    this.dir = join(dataDir, 'blobs');
    this.tmpDir = join(dataDir, 'blobs', 'tmp');
    this.ready().catch(() => undefined); // at start; a failure is reported to the puts that wait for it
  }

  private durableFolder(dir: string): Promise<void> {
    let synced = this.durable.get(dir);
    if (!synced) {
      synced = mkdir(dir, { recursive: true }).then(() => fsyncDir(dirname(dir)));
      synced.catch(() => this.durable.delete(dir));
      this.durable.set(dir, synced);
    }
    return synced;
  }

  /** blobs/ (in the data folder) and blobs/tmp exist, their names on disk. */
  private async ready(): Promise<void> {
    await this.durableFolder(this.dir);
    await this.durableFolder(this.tmpDir);
  }

  private fileFor(key: string): { dir: string; file: string } {
    const hash = createHash('sha256').update(key).digest('hex');
    const dir = join(this.dir, hash.slice(0, 2));
    return { dir, file: join(dir, hash) };
  }

  async put(key: string, source: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ size: number }> {
    if (source instanceof Uint8Array) source = [source] as unknown as AsyncIterable<Uint8Array>;
    const chunks: Buffer[] = [];
    let size = 0;
    let handle = null as FileHandle | null; // set in take (a closure): not narrowed to null here
    let tmpPath = '';
    /** One chunk: kept while the blob fits inline, else written to its file (a promise then). */
    const take = (chunk: Uint8Array): Promise<unknown> | undefined => {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      size += buf.length;
      if (handle) return handle.write(buf);
      chunks.push(buf);
      if (size <= this.inlineMaxBytes) return undefined;
      return (async () => {
        await this.ready();
        tmpPath = join(this.tmpDir, `${Date.now()}-${randomBytes(6).toString('hex')}`);
        handle = await open(tmpPath, 'wx');
        for (const c of chunks) await handle.write(c);
        chunks.length = 0;
      })();
    };
    try {
      if (source instanceof Readable) await eachChunk(source, take);
      else for await (const chunk of source) await take(chunk);
      if (handle) {
        await handle.sync();
        await handle.close();
        handle = null;
        await this.edb.write('blob.put', { key, size, data: null });
        const { dir, file } = this.fileFor(key);
        try {
          await this.durableFolder(dir);
          await rename(tmpPath, file);
        } catch (err) {
          await this.edb.write('blob.delete', { key }).catch(() => undefined);
          throw err;
        }
        tmpPath = '';
        await fsyncDir(dir);
      } else {
        // one copy of the bytes, in a buffer lent to the writer thread (it comes back to the pool)
        const data = this.edb.buffers.take(size);
        let at = 0;
        for (const c of chunks) {
          data.set(c, at);
          at += c.length;
        }
        chunks.length = 0;
        await this.edb.write('blob.put', { key, size, data }, [data.buffer]);
      }
      return { size };
    } catch (err) {
      if (handle) await handle.close().catch(() => undefined);
      if (tmpPath) await rm(tmpPath, { force: true }).catch(() => undefined);
      throw err instanceof MailError ? err : new MailError('TemporaryFailure', 'blob write failed', { cause: err });
    }
  }

  private row(key: string): Row | undefined {
    return this.edb.stmt('SELECT size, data, seg, off FROM blobs WHERE key = ?').get(key) as Row | undefined;
  }

  /**
   * A blob in a segment: the file opened, checked to hold the blob's range. Compaction may
   * have moved the blob since its row was read (and removed the old segment): then the row is
   * read once more, and whatever it says now is served.
   */
  private async openSegment(key: string, row: Row & { seg: number }, retried = false): Promise<{ handle: FileHandle; off: number; size: number } | Row | null> {
    let handle: FileHandle;
    try {
      handle = await open(segmentPath(this.edb.path, row.seg), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || retried) throw err;
      const again = this.row(key);
      if (!again || again.seg === null) return again ?? null;
      return this.openSegment(key, again as Row & { seg: number }, true);
    }
    if ((await handle.stat()).size < row.off! + row.size) {
      await handle.close();
      throw new MailError('TemporaryFailure', `segment ${row.seg} is shorter than the blob ${key} it should hold`);
    }
    return { handle, off: row.off!, size: row.size };
  }

  async get(key: string): Promise<Readable | null> {
    let row: Row | null | undefined = this.row(key);
    if (row?.seg != null) {
      const opened = await this.openSegment(key, row as Row & { seg: number });
      if (opened && 'handle' in opened) return opened.handle.createReadStream({ start: opened.off, end: opened.off + opened.size - 1, autoClose: true });
      row = opened;
    }
    if (!row) return null;
    if (row.data) return Readable.from([row.data]);
    return createReadStream(this.fileFor(key).file);
  }

  async getBuffer(key: string): Promise<Buffer | null> {
    let row: Row | null | undefined = this.row(key);
    if (row?.seg != null) {
      const opened = await this.openSegment(key, row as Row & { seg: number });
      if (opened && 'handle' in opened) {
        const { handle, off, size } = opened;
        try {
          const buf = Buffer.allocUnsafe(size);
          for (let done = 0; done < size; ) {
            const { bytesRead } = await handle.read(buf, done, size - done, off + done);
            if (bytesRead === 0) throw new MailError('TemporaryFailure', `segment ended inside the blob ${key}`);
            done += bytesRead;
          }
          return buf;
        } finally {
          await handle.close();
        }
      }
      row = opened;
    }
    if (!row) return null;
    if (row.data) return row.data;
    const stream = createReadStream(this.fileFor(key).file);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async stat(key: string): Promise<{ size: number } | null> {
    const row = this.edb.stmt('SELECT size FROM blobs WHERE key = ?').get(key) as { size: number } | undefined;
    return row ? { size: row.size } : null;
  }

  async delete(key: string): Promise<void> {
    const row = this.edb.stmt('SELECT data IS NULL AND seg IS NULL AS onDisk FROM blobs WHERE key = ?').get(key) as { onDisk: number } | undefined;
    if (row?.onDisk) {
      // only a file already gone lets the row go: any other failure keeps the row, so the file stays listed (and is retried)
      await unlink(this.fileFor(key).file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw new MailError('TemporaryFailure', 'could not remove a stored file', { cause: err });
      });
    }
    await this.edb.write('blob.delete', { key });
  }

  async *list(prefix = ''): AsyncIterable<BlobInfo> {
    const page = this.edb.stmt('SELECT key, size, created_at FROM blobs WHERE key > ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT 500');
    let after = '';
    for (;;) {
      const rows = page.all(after, prefix.length, prefix) as Array<{ key: string; size: number; created_at: number }>;
      for (const row of rows) yield { key: row.key, size: row.size, lastModified: row.created_at };
      if (rows.length < 500) return;
      after = rows[rows.length - 1].key;
    }
  }

  async removeUnfinished(opts: { olderThan: number; dryRun: boolean }): Promise<{ count: number; bytes: number }> {
    await this.ready();
    let count = 0;
    let bytes = 0;
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      const info = await stat(path).catch(() => null);
      if (!info || !info.isFile() || info.mtimeMs >= opts.olderThan) continue;
      if (!opts.dryRun && !(await unlink(path).then(() => true, () => false))) continue;
      count++;
      bytes += info.size;
    }
    return { count, bytes };
  }

  async ping(): Promise<void> {
    await this.ready();
    this.edb.stmt('SELECT 1 FROM blobs LIMIT 1').get();
  }

  async close(): Promise<void> {
    // the connection belongs to the EmbeddedDb
  }
}
