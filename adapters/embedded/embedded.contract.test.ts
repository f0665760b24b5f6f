import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobStoreContract } from '../contract/blob-store.contract';
import { mailStoreContract } from '../contract/mail-store.contract';
import { queueContract } from '../contract/queue.contract';
import { EmbeddedBlobStore } from './embedded-blob-store';
import { EmbeddedDb } from './sqlite';
import { SqliteMailStore } from './sqlite-mail-store';
import { SqliteQueue } from './sqlite-queue';

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-contract-'));
  const db = new EmbeddedDb(join(dir, 'nimbus.db'));
  return {
    dir,
    db,
    async cleanup() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

mailStoreContract('SQLite', async () => {
  const f = fresh();
  return { store: new SqliteMailStore(f.db), cleanup: f.cleanup };
});

// inline threshold 64 KB: the large case (1 MB) goes through the file path
blobStoreContract(
  'files + SQLite',
  async () => {
    const f = fresh();
    return { blobs: new EmbeddedBlobStore(f.db, f.dir, 64 * 1024), cleanup: f.cleanup };
  },
  { largeBytes: 1024 * 1024 },
);

queueContract('SQLite', async (opts) => {
  const f = fresh();
  return { queue: new SqliteQueue<{ n: number }>(f.db, 'contract', opts), cleanup: f.cleanup };
});
