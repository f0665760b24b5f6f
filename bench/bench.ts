import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLoopbackDnsServer } from '../adapters/dns/loopback-dns-server';
import { apiFigures, withSeededServer } from './api-bench';
import { azureBench } from './azure-bench';
import { cosmosOperations } from './cosmos-ops-bench';
import { memMb, resetPeak, startServerProcess, stopServerProcess, type ServerProcess } from './server-process';
import { ingestBench } from './ingest-bench';
import { sendBench, WARM_ROUNDS } from './send-bench';
import { makeAttachmentMessage, makeMessage, runLoad } from './smtp-load';
import { webmailFirstPage, webmailJsSize } from './webmail-bench';

/**
 * `npm run bench`: drives the real local host (its own process, as `npm start` runs
 * it) and Postfix under the same load in the same run (ingest-bench.ts), then a 25 MB
 * message, the API on a big mailbox, sending, and the Azure adapters on the emulators.
 * Everything on 127.0.0.1.
 */
const QUICK = process.argv.includes('--quick');
/** `--only ingest` (or `load`), `big`, `api`, `webmail`, `send` or `azure`: run one part. */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 200);
const PASSWORD = 'bench password 123';

type Server = ServerProcess;

function startServer(): Promise<Server> {
  return startServerProcess(join(__dirname, '..', 'local', 'main.js'), { dataDir: true, http: true });
}

const stopServer = stopServerProcess;


async function api(server: Server, path: string, init: RequestInit & { token?: string } = {}): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/api${path}`, { ...init, headers });
  return res.json();
}

async function setup(server: Server): Promise<string> {
  const out = await api(server, '/setup', { method: 'POST', body: JSON.stringify({ domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Bench' }) });
  return out.token;
}

async function inboxTotal(server: Server, token: string): Promise<number> {
  const out = await api(server, '/mailboxes', { token });
  return out.items.find((m: { specialUse: string }) => m.specialUse === 'inbox').total;
}

interface BigResult {
  beforeMb: number;
  peakMb: number;
  seconds: number;
  response: string;
  /** Reading it back through the API: the view, and (attachment shape) the attachment's download; time and RSS growth at peak. */
  reads: Array<{ what: string; seconds: number; growthMb: number; status: number }>;
}

async function bigMessage(shape: 'attachment' | 'text'): Promise<BigResult> {
  const server = await startServer();
  try {
    const token = await setup(server);
    await runLoad({ port: server.smtpPort, total: 200, concurrency: 50, perConnection: 1, message: makeMessage(4096, 'warm'), rcpt: 'admin@example.com' });
    await new Promise((r) => setTimeout(r, 500));
    const pid = server.child.pid!;
    const beforeMb = memMb(pid, 'VmRSS');
    resetPeak(pid);
    const before = await inboxTotal(server, token);
    const t0 = Date.now();
    const bytes = 25 * 1024 * 1024 - 64 * 1024;
    const message = shape === 'attachment' ? makeAttachmentMessage(bytes, 'big') : makeMessage(bytes, 'big');
    const load = await runLoad({ port: server.smtpPort, total: 1, concurrency: 1, perConnection: 1, message, rcpt: 'admin@example.com' });
    while ((await inboxTotal(server, token)) < before + 1 && load.failures === 0) await new Promise((r) => setTimeout(r, 20));
    const result: BigResult = { beforeMb, peakMb: memMb(pid, 'VmHWM'), seconds: (Date.now() - t0) / 1000, response: load.failures ? `FAILED: ${load.firstError}` : '250', reads: [] };
    if (load.failures) return result;
    const { items } = await api(server, '/mails?q=big', { token });
    const paths = [['view', `/mails/${items[0].id}`], ...(shape === 'attachment' ? [['attachment', `/mails/${items[0].id}/attachments/a1`]] : [])];
    for (const [what, path] of paths) {
      await new Promise((r) => setTimeout(r, 300));
      const rss = memMb(pid, 'VmRSS');
      resetPeak(pid);
      const r0 = Date.now();
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/api${path}`, { headers: { authorization: `Bearer ${token}` } });
      for await (const _chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        // read to the end, as a client does
      }
      result.reads.push({ what, seconds: (Date.now() - r0) / 1000, growthMb: memMb(pid, 'VmHWM') - rss, status: res.status });
    }
    return result;
  } finally {
    await stopServer(server);
  }
}

const fmt = (n: number | null, digits = 0) => (n === null || Number.isNaN(n) ? '-' : n.toFixed(digits));

async function main(): Promise<void> {
  process.stdout.write(`Nimbus Mail benchmark: loopback, ${QUICK ? 'quick' : 'full'} run, node ${process.version}\n`);
  process.stdout.write('Durable = fsync before 250 (SQLite WAL synchronous=FULL; files fsync + dir fsync). End-to-end = until visible through GET /api/mailboxes.\n');
  // the servers authenticate every message (SPF, DKIM, DMARC): their DNS is a loopback server answering as a
  // sender domain would (SPF allows 127.0.0.1, DMARC p=none); the edge keeps answers a minute, as a local resolver would
  const dns = await startLoopbackDnsServer({ 'sender.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] }, '_dmarc.sender.test': { TXT: ['v=DMARC1; p=none'] } });
  process.env.NIMBUS_DNS_SERVERS = dns.address;
  process.stdout.write(`Inbound authentication on (mailauth: SPF, DKIM, ARC, DMARC; DNS from ${dns.address}); Postfix does none.\n\n`);
  const sessions = (process.env.BENCH_SESSIONS ?? '200,500').split(',').map(Number);
  const ingest = ONLY && ONLY !== 'ingest' && ONLY !== 'load' ? [] : await ingestBench({ quick: QUICK, sessions }, (line) => process.stdout.write(line));
  const big: Record<string, BigResult> = {};
  for (const shape of ONLY && ONLY !== 'big' ? [] : (['attachment', 'text'] as const)) {
    const b = (big[shape] = await bigMessage(shape));
    process.stdout.write(`${shape === 'attachment' ? '\n' : ''}25 MB message (${shape === 'attachment' ? 'one base64 attachment' : 'one plain-text body'}): ${b.response} in ${fmt(b.seconds, 2)} s (until visible); RSS ${fmt(b.beforeMb)} MB before, peak ${fmt(b.peakMb)} MB (+${fmt(b.peakMb - b.beforeMb)} MB)\n`);
    for (const r of b.reads) process.stdout.write(`  read back: ${r.what} ${r.status} in ${fmt(r.seconds, 2)} s, RSS +${fmt(r.growthMb)} MB at peak\n`);
  }
  let api: Record<string, unknown> | null = null;
  let webmail: Record<string, unknown> | null = null;
  if (!ONLY || ONLY === 'api' || ONLY === 'webmail') {
    // BENCH_MAILBOX: another mailbox size (a small one checks that the part runs)
    const count = Number(process.env.BENCH_MAILBOX) || (QUICK ? 20_000 : 100_000);
    const write = (line: string) => process.stdout.write(line);
    process.stdout.write(`\nA mailbox of ${count} messages (${ONLY === 'api' ? 'HTTP API' : ONLY === 'webmail' ? 'webmail' : 'HTTP API, then webmail'}):\n`);
    await withSeededServer(count, write, async (server) => {
      if (!ONLY || ONLY === 'api') api = await apiFigures(server, write);
      if (!ONLY || ONLY === 'webmail') webmail = { js: webmailJsSize(write), firstPage: await webmailFirstPage(server, QUICK ? 3 : 10, write) };
    });
  }
  let send: Record<string, unknown> | null = null;
  if (!ONLY || ONLY === 'send') {
    const count = QUICK ? 200 : 2000;
    const warmUp = count / 2;
    const concurrency = Math.min(CONCURRENCY, 50);
    process.stdout.write(`\nSending to a loopback relay, every message DKIM-signed, 4 KB, ${count} messages, ${concurrency} parallel clients (SMTP: 20 messages per authenticated connection), after a warm-up of ${WARM_ROUNDS} rounds of ${warmUp} of each, not counted:\n`);
    send = await sendBench({ count, warmUp, concurrency, size: 4096, perConnection: 20 }, (line) => process.stdout.write(line));
  }
  let azure: Record<string, unknown> | null = null;
  if (!ONLY || ONLY === 'azure') {
    const count = QUICK ? 1000 : 5000;
    process.stdout.write(`\nAzure adapters on the local EMULATORS (not Azure's figures), ${count} messages in one mailbox, SQLite doing the same in this run:\n`);
    azure = await azureBench(count, (line) => process.stdout.write(line));
    azure.cosmosOperations = await cosmosOperations((line) => process.stdout.write(line));
  }
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ ingest, big, api, webmail, send, azure }, null, 2));
  await dns.stop();
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
