import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EmbeddedBlobStore } from './embedded-blob-store';
import { EmbeddedDb } from './sqlite';

/**
 * Which folders the blob store fsyncs: node:fs/promises' `open` is wrapped (the real one
 * runs) so that each sync of a handle opened on a folder is recorded, and can be held back.
 * fsync has no effect a test can see short of a power cut, so the calls are what is checked.
 */
const synced: string[] = [];
const hold: { path: string; until: Promise<void> } = { path: '', until: Promise.resolve() };
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof real.open = async (path, flags, mode) => {
    const handle = await real.open(path, flags, mode);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      if ((await handle.stat()).isDirectory()) {
        synced.push(String(path));
        if (String(path) === hold.path) await hold.until;
      }
      return sync();
    };
    return handle;
  };
  return { ...real, open, default: { ...real, open } };
});

const dirs: string[] = [];
afterEach(() => {
  hold.path = '';
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh data folder (with `before` done in it first) and a store whose blobs over 1 KB are files; closed after `fn`. */
async function withStore(fn: (blobs: EmbeddedBlobStore, dataDir: string) => Promise<void>, before?: (dataDir: string) => void): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-folders-'));
  dirs.push(dataDir);
  before?.(dataDir);
  const db = new EmbeddedDb(join(dataDir, 'nimbus.db'));
  try {
    const blobs = new EmbeddedBlobStore(db, dataDir, 1024);
    synced.length = 0;
    await fn(blobs, dataDir);
  } finally {
    await db.close();
  }
}

/** The folder a blob file of `key` goes to. */
const folderOf = (dataDir: string, key: string) => join(dataDir, 'blobs', createHash('sha256').update(key).digest('hex').slice(0, 2));
/** A key whose file goes to the same folder as `key`'s. */
function neighbour(dataDir: string, key: string): string {
  let n = 0;
  while (folderOf(dataDir, `${key}-${n}`) !== folderOf(dataDir, key)) n++;
  return `${key}-${n}`;
}

describe('blob store folders', () => {
  it('syncs the parent of every folder it uses: the data folder for blobs/, blobs/ for blobs/tmp and for each folder of files, once', () =>
    withStore(async (blobs, dataDir) => {
      // over the inline limit: a file of its own, in a folder named by its hash, made now
      await blobs.put('k1', Buffer.alloc(4000, 1));
      const blobsDir = join(dataDir, 'blobs');
      const fileDir = folderOf(dataDir, 'k1');
      expect(synced).toEqual([dataDir, blobsDir, blobsDir, fileDir]); // blobs/ and blobs/tmp at start; the new folder, then the file in it
      // a second blob in that folder: only the folder is synced (its name is on disk already)
      synced.length = 0;
      await blobs.put(neighbour(dataDir, 'k1'), Buffer.alloc(4000, 2));
      expect(readdirSync(fileDir).length).toBe(2);
      expect(synced).toEqual([fileDir]);
    }));

  it('a folder made by an earlier run (which may have stopped before syncing it) has its name synced by this one', () => {
    let fileDir = '';
    return withStore(
      async (blobs, dataDir) => {
        await blobs.put('k1', Buffer.alloc(4000, 1));
        const blobsDir = join(dataDir, 'blobs');
        expect(synced).toEqual([dataDir, blobsDir, blobsDir, fileDir]); // as for a folder made now
      },
      (dataDir) => {
        fileDir = folderOf(dataDir, 'k1');
        mkdirSync(fileDir, { recursive: true });
      },
    );
  });

  it('two blobs going to one new folder at once: neither is stored before the folder name is synced', () =>
    withStore(async (blobs, dataDir) => {
      // a blob file in another folder first, so that the start-up syncs are done
      let other = 0;
      while (folderOf(dataDir, `other-${other}`) === folderOf(dataDir, 'k1')) other++;
      await blobs.put(`other-${other}`, Buffer.alloc(4000, 9));
      synced.length = 0;
      let release!: () => void;
      hold.path = join(dataDir, 'blobs');
      hold.until = new Promise((resolve) => (release = resolve));
      const done: string[] = [];
      const puts = ['k1', neighbour(dataDir, 'k1')].map((key) => blobs.put(key, Buffer.alloc(4000, 3)).then(() => done.push(key)));
      await new Promise((r) => setTimeout(r, 300));
      expect(done).toEqual([]); // both wait for the one sync of blobs/
      release();
      await Promise.all(puts);
      expect(done.length).toBe(2);
      expect(synced.filter((path) => path === join(dataDir, 'blobs')).length).toBe(1);
    }));
});
