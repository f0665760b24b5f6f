import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The local stand-ins for Cosmos DB and Blob Storage, for tests and `npm run bench`
 * only (both are dev dependencies). Each listens on 127.0.0.1, on a port the OS
 * picks, and is stopped by whoever started it.
 */

/** The well-known emulator key (public, not a secret). */
export const COSMOS_EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';
/** Azurite's well-known development account (public, not a secret). */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Emulator {
  stop(): Promise<void>;
}

/** @vercel/cosmosdb-server in this process, over plain HTTP. */
export async function startCosmosEmulator(): Promise<Emulator & { endpoint: string; key: string }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHttpServer } = require('@vercel/cosmosdb-server') as { createHttpServer(): http.Server };
  const server = createHttpServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    key: COSMOS_EMULATOR_KEY,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Azurite's blob service as a child process: in-memory, telemetry off (it would
 * otherwise call out to the internet), API version check off (@azure/storage-blob
 * is newer than azurite 3.35 knows).
 */
export async function startAzurite(): Promise<Emulator & { connectionString: string; blobEndpoint: string }> {
  const main = require.resolve('azurite/dist/src/blob/main.js');
  const workdir = mkdtempSync(join(tmpdir(), 'nimbus-azurite-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [main, '--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--loose'],
    { cwd: workdir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`azurite did not start in 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited (${code}):\n${output}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/**
 * An HTTP proxy in front of an emulator that lets a test decide, request by
 * request, to answer with a fault instead (429 with a retry-after hint, 503) or to
 * cut the connection after some bytes of the request body. For fault tests only.
 */
export interface FaultProxy extends Emulator {
  url: string;
  /** Requests seen, faults included. */
  requests: Array<{ method: string; path: string; fault: string | null }>;
  /** Called per request; return a fault or null to pass it through. */
  decide: (req: { method: string; path: string }) => { status: 429 | 503 } | { cutAfterBytes: number } | null;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const proxy: FaultProxy = { url: '', requests: [], decide: () => null, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const fault = proxy.decide({ method: req.method ?? 'GET', path });
    proxy.requests.push({ method: req.method ?? 'GET', path, fault: fault ? JSON.stringify(fault) : null });
    if (fault && 'status' in fault) {
      req.resume();
      req.on('end', () => {
        const body = JSON.stringify({ code: fault.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', message: 'injected by the test proxy' });
        res.writeHead(fault.status, { 'content-type': 'application/json', 'x-ms-retry-after-ms': '20', 'x-ms-substatus': '0', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    if (fault && 'cutAfterBytes' in fault) {
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= fault.cutAfterBytes) {
          out.destroy();
          req.socket.destroy();
        } else out.write(chunk);
      });
      req.on('end', () => out.end());
      return;
    }
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${port}${upstream.pathname === '/' ? '' : upstream.pathname}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}
