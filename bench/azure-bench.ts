import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { AzureBlobStore } from '../adapters/azure/azure-blob-store';
import { CosmosMailStore } from '../adapters/azure/cosmos-mail-store';
import { COSMOS_EMULATOR_KEY, startAzurite, startFakeServiceBus } from '../adapters/azure/emulators';
import { EmbeddedDb } from '../adapters/embedded/sqlite';
import { SqliteMailStore } from '../adapters/embedded/sqlite-mail-store';
import type { MailStore } from '../core/ports';
import { seedItems } from './seed';
import { timed } from './api-bench';
import { memMb, resetPeak } from './server-process';
import { makeAttachmentMessage, makeMessage, percentile, runLoad } from './smtp-load';

/**
 * The Azure adapters against the local emulators, with the SQLite store doing the
 * same work in the same run as the baseline. These are EMULATOR figures:
 * @vercel/cosmosdb-server is an in-memory JavaScript imitation without real indexes
 * (its queries scan), and azurite keeps blobs in memory; neither says what Cosmos DB
 * or Blob Storage would do. They show what the adapters cost per call and that the
 * paths work at volume, and they catch regressions.
 */

/** The Cosmos emulator in a child process, so it does not share this process's event loop. */
async function startCosmosChild(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', "require('@vercel/cosmosdb-server').createHttpServer().listen(0, '127.0.0.1', function () { console.log('port ' + this.address().port) })"], {
    cwd: join(__dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`cosmos emulator exited ${code}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

interface StoreFigures {
  filingPerSec: number;
  firstPage: { p50: number; p99: number };
  tenthPage: { p50: number; p99: number };
  search: { p50: number; p99: number };
}

/** Files `count` messages in batches of 20 (the worker's batch), then times listing and search. */
async function storeFigures(store: MailStore, count: number, samples: number): Promise<StoreFigures> {
  const user = await store.setup({ domain: 'example.com', email: 'admin@example.com', name: 'Bench', passwordHash: 'x' });
  const inbox = (await store.findMailboxBySpecialUse(user.id, 'inbox'))!;
  const t0 = Date.now();
  const batches: Promise<unknown>[] = [];
  for (let start = 0; start < count; start += 20) {
    batches.push(store.fileMessages(seedItems(user.id, inbox.id, start, Math.min(count, start + 20))));
    if (batches.length >= 8) await Promise.all(batches.splice(0)); // 8 batches in flight, as 8 trigger invocations
  }
  await Promise.all(batches);
  const filingPerSec = count / ((Date.now() - t0) / 1000);
  const first = await timed(samples, () => store.listMessages(user.id, { mailboxId: inbox.id, limit: 50 }));
  let cursor: string | null = null;
  for (let i = 0; i < 9; i++) cursor = (await store.listMessages(user.id, { mailboxId: inbox.id, limit: 50, cursor })).nextCursor;
  const tenth = await timed(samples, () => store.listMessages(user.id, { mailboxId: inbox.id, limit: 50, cursor }));
  const search = await timed(samples, () => store.listMessages(user.id, { mailboxId: null, limit: 50, q: 'zanzibar' }));
  const p = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99) });
  return { filingPerSec, firstPage: p(first), tenthPage: p(tenth), search: p(search) };
}

export async function azureBench(count: number, write: (line: string) => void): Promise<Record<string, unknown>> {
  const fmt = (n: number, d = 1) => n.toFixed(d);
  const line = (name: string, f: StoreFigures) =>
    `  ${name.padEnd(28)} filing ${fmt(f.filingPerSec, 0).padStart(6)} msg/s   first page p50 ${fmt(f.firstPage.p50)} / p99 ${fmt(f.firstPage.p99)} ms   ` +
    `10th page p50 ${fmt(f.tenthPage.p50)} / p99 ${fmt(f.tenthPage.p99)} ms   search p50 ${fmt(f.search.p50)} / p99 ${fmt(f.search.p99)} ms\n`;
  const samples = 30;

  const dir = mkdtempSync(join(tmpdir(), 'nimbus-azure-bench-'));
  const db = new EmbeddedDb(join(dir, 'nimbus.db'));
  const sqlite = await storeFigures(new SqliteMailStore(db), count, samples);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  write(line('SQLite (baseline)', sqlite));

  const emulator = await startCosmosChild();
  let cosmos: StoreFigures;
  let edge: Awaited<ReturnType<typeof edgeBigMessage>>;
  try {
    const store = new CosmosMailStore({ endpoint: emulator.endpoint, key: COSMOS_EMULATOR_KEY, database: 'bench' });
    cosmos = await storeFigures(store, count, samples);
    await store.close();
    write(line('Cosmos DB EMULATOR', cosmos));
    write(`  ratio emulator/SQLite: filing ${fmt(cosmos.filingPerSec / sqlite.filingPerSec, 2)}x the rate, first page ${fmt(cosmos.firstPage.p50 / sqlite.firstPage.p50, 0)}x the time\n`);
    edge = await edgeBigMessage(emulator.endpoint);
  } finally {
    await emulator.stop();
  }
  write(
    `  edge container process (dist/smtp-edge/main.js) on the emulators, one 25 MB message: ` +
      `${edge.map((e) => `${e.shape} ${e.response}, RSS ${fmt(e.beforeMb, 0)} MB before, peak ${fmt(e.peakMb, 0)} MB (+${fmt(e.peakMb - e.beforeMb, 0)} MB)`).join('; ')}\n`,
  );

  // Blob Storage: a 25 MB message up and down as streams; this process's RSS says whether it was held whole
  const azurite = await startAzurite();
  let blob: Record<string, number>;
  try {
    const blobs = new AzureBlobStore({ connectionString: azurite.connectionString, container: 'bench' });
    await blobs.put('warm', Buffer.from('warm'));
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const size = 25 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const t0 = Date.now();
    await blobs.put('raw/25mb.eml', Readable.from((function* () {
      for (let sent = 0; sent < size; sent += chunk.length) yield chunk;
    })()));
    const up = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    let got = 0;
    for await (const c of (await blobs.get('raw/25mb.eml'))!) got += (c as Buffer).length;
    const down = (Date.now() - t1) / 1000;
    clearInterval(sampler);
    blob = { upSeconds: up, downSeconds: down, rssDeltaMb: (peak - rss0) / 1024 / 1024, bytes: got };
  } finally {
    await azurite.stop();
  }
  write(`  Blob Storage EMULATOR (azurite): 25 MB put ${fmt(blob.upSeconds, 2)} s, get ${fmt(blob.downSeconds, 2)} s (${blob.bytes === 25 * 1024 * 1024 ? 'bytes match' : 'SIZE MISMATCH'}); this process's RSS +${fmt(blob.rssDeltaMb, 0)} MB at peak (4 MB blocks, 2 in flight)\n`);
  return { count, sqlite, cosmosEmulator: cosmos, blobEmulator: blob, edge25mb: edge };
}

/**
 * The Azure edge as its container runs it (built entry, own process) against the
 * Cosmos emulator, azurite and the test AMQP endpoint: the RSS cost of one 25 MB
 * message streamed to Blob Storage, with a base64 attachment and with a text body.
 */
async function edgeBigMessage(cosmosEndpoint: string) {
  const [azurite, bus] = await Promise.all([startAzurite(), startFakeServiceBus()]);
  const database = `edge-bench-${Date.now()}`;
  const store = new CosmosMailStore({ endpoint: cosmosEndpoint, key: COSMOS_EMULATOR_KEY, database });
  await store.setup({ domain: 'example.com', email: 'admin@example.com', name: 'Bench', passwordHash: 'x' });
  await store.close();
  const child = spawn(process.execPath, [join(__dirname, '..', 'smtp-edge', 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      NIMBUS_COSMOS_ENDPOINT: cosmosEndpoint,
      NIMBUS_COSMOS_KEY: COSMOS_EMULATOR_KEY,
      NIMBUS_COSMOS_DATABASE: database,
      NIMBUS_BLOB_CONNECTION_STRING: azurite.connectionString,
      NIMBUS_SERVICEBUS_CONNECTION: bus.connectionString,
      NIMBUS_JWT_SECRET: 'bench-secret-bench-secret-bench-secret-00',
      NIMBUS_SETUP_TOKEN: 'bench-setup-token-0123',
      NIMBUS_SMTP_PORT: '0',
      NIMBUS_SUBMISSION_PORT: '0',
      NIMBUS_SUBMISSION_TLS_PORT: '0',
      NIMBUS_HOSTNAME: 'mx.bench',
      NIMBUS_LOG_LEVEL: 'info',
      // bench.ts's loopback DNS server: the edge's authentication lookups never leave the machine
      ...(process.env.NIMBUS_DNS_SERVERS ? { NIMBUS_DNS_SERVERS: process.env.NIMBUS_DNS_SERVERS } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (c) => {
        out += c;
        const m = /"port":(\d+)[^\n]*SMTP edge listening/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`edge exited ${code}: ${out}`)));
    });
    child.stdout!.resume();
    const results: Array<{ shape: string; response: string; beforeMb: number; peakMb: number }> = [];
    await runLoad({ port, total: 50, concurrency: 10, perConnection: 1, message: makeMessage(4096, 'warm'), rcpt: 'admin@example.com' });
    const bytes = 25 * 1024 * 1024 - 64 * 1024;
    for (const shape of ['attachment', 'text'] as const) {
      await new Promise((r) => setTimeout(r, 300));
      const beforeMb = memMb(child.pid!, 'VmRSS');
      resetPeak(child.pid!);
      const message = shape === 'attachment' ? makeAttachmentMessage(bytes, 'big') : makeMessage(bytes, 'big');
      const load = await runLoad({ port, total: 1, concurrency: 1, perConnection: 1, message, rcpt: 'admin@example.com' });
      results.push({ shape, response: load.failures ? `FAILED: ${load.firstError}` : '250', beforeMb, peakMb: memMb(child.pid!, 'VmHWM') });
    }
    return results;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await Promise.all([azurite.stop(), bus.stop()]);
  }
}
