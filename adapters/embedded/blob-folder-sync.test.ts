import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EmbeddedBlobStore } from './embedded-blob-store';
import { EmbeddedDb } from './sqlite';

/**
 * Which folders the blob store fsyncs: node:fs/promises' `open` is wrapped (the real one
 * runs) so that each sync of a handle opened on a folder is recorded. fsync has no effect
 * a test can see short of a power cut, so the calls are what is checked.
 */
const synced: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof real.open = async (path, flags, mode) => {
    const handle = await real.open(path, flags, mode);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      if ((await handle.stat()).isDirectory()) synced.push(String(path));
      return sync();
    };
    return handle;
  };
  return { ...real, open, default: { ...real, open } };
});


const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('blob store folders', () => {
  it('syncs the parent of every folder it makes: the data folder for blobs/, blobs/ for blobs/tmp and for each new folder of files', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-folders-'));
    dirs.push(dataDir);
    const db = new EmbeddedDb(join(dataDir, 'nimbus.db'));
    try {
      const blobs = new EmbeddedBlobStore(db, dataDir, 1024);
      synced.length = 0;
      // over the inline limit: a file of its own, in a folder named by its hash, made now
      await blobs.put('k1', Buffer.alloc(4000, 1));
      const blobsDir = join(dataDir, 'blobs');
      expect(synced.slice(0, 2).sort()).toEqual([dataDir, blobsDir].sort()); // blobs/ and blobs/tmp, made at start
      const fileDir = synced[synced.length - 1];
      expect(fileDir.startsWith(blobsDir + '/')).toBe(true);
      // blobs/ gained the new folder's name, and the new folder the file's name
      expect(synced.slice(2)).toEqual([blobsDir, fileDir]);

      // a second blob in a folder that exists already: only that folder is synced
      synced.length = 0;
      expect(readdirSync(fileDir).length).toBe(1);
      const folderOf = (key: string) => join(blobsDir, createHash('sha256').update(key).digest('hex').slice(0, 2));
      let n = 0;
      while (folderOf(`k2-${n}`) !== fileDir) n++;
      const key = `k2-${n}`;
      await blobs.put(key, Buffer.alloc(4000, 2));
      expect(synced).toEqual([fileDir]);
    } finally {
      await db.close();
    }
  });
});
