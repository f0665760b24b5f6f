import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config';
import { blobStoreContract } from '../contract/blob-store.contract';
import { mailStoreContract } from '../contract/mail-store.contract';
import { sendLimitContract } from '../contract/send-limit.contract';
import { SharedSendLimit } from '../../core/rate-limit';
import { AzureBlobStore } from './azure-blob-store';
import { CosmosMailStore } from './cosmos-mail-store';
import { startAzurite, startCosmosEmulator } from './emulators';

/**
 * The Azure adapters against the local emulators: @vercel/cosmosdb-server (in this
 * process) and azurite (a child process), both on 127.0.0.1, started and stopped
 * here. Every case gets a database / container of its own.
 */
let cosmos: Awaited<ReturnType<typeof startCosmosEmulator>>;
let azurite: Awaited<ReturnType<typeof startAzurite>>;
let n = 0;

beforeAll(async () => {
  [cosmos, azurite] = await Promise.all([startCosmosEmulator(), startAzurite()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([cosmos?.stop(), azurite?.stop()]);
});

mailStoreContract('Cosmos DB (emulator)', async () => {
  const store = new CosmosMailStore({ endpoint: cosmos.endpoint, key: cosmos.key, database: `contract-${++n}` });
  return { store, cleanup: () => store.close() };
});

// two processes (each its own client) counting one sender in the same database
sendLimitContract('shared through Cosmos DB (emulator)', async (max) => {
  const database = `contract-${++n}`;
  const stores = [0, 1].map(() => new CosmosMailStore({ endpoint: cosmos.endpoint, key: cosmos.key, database }));
  return { limits: [new SharedSendLimit(stores[0], max), new SharedSendLimit(stores[1], max)], cleanup: async () => void (await Promise.all(stores.map((s) => s.close()))) };
});

// blocks of 256 KB so that the 3 MB case really stages several blocks
blobStoreContract(
  'Blob Storage (azurite)',
  async () => ({
    blobs: new AzureBlobStore({ connectionString: azurite.connectionString, container: `contract-${++n}`, blockBytes: 256 * 1024, singleShotMaxBytes: 256 * 1024 }),
    cleanup: async () => undefined,
  }),
  { largeBytes: 3 * 1024 * 1024 },
);

describe('UseDevelopmentStorage=true', () => {
  it('is accepted as NIMBUS_BLOB_CONNECTION_STRING and reaches azurite at its well-known address (127.0.0.1:10000)', async () => {
    const config = loadConfig({ NIMBUS_BLOB_CONNECTION_STRING: 'UseDevelopmentStorage=true' });
    const wellKnown = await startAzurite({ port: 10000 });
    try {
      const blobs = new AzureBlobStore({ connectionString: config.NIMBUS_BLOB_CONNECTION_STRING!, container: 'devstorage' });
      await blobs.put('k', Buffer.from('hello azurite'));
      expect((await blobs.getBuffer('k'))?.toString()).toBe('hello azurite');
    } finally {
      await wellKnown.stop();
    }
  }, 60_000);
});
