import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeMessage, runLoad } from './smtp-load';
import { cpuMs, machineBusyMs, memMb, resetPeak, serverNodeArgs, startServerProcess, stopServerProcess, type ServerProcess } from './server-process';

/**
 * `npm run bench -- --only ingest`: MX ingest, Nimbus against Postfix in the same run
 * on the same machine (issue 13): one message per connection, N parallel sessions,
 * end to end = from the first connection until every message is durable and visible
 * (Nimbus: through GET /api/mailboxes; Postfix: delivered into its Maildir). Both are
 * driven by Postfix's own load generator (smtp-source) when Postfix is installed, so the
 * client costs the same on both sides; without Postfix the peer is reported as not run
 * and Nimbus is driven by the bench's Node client. Nimbus runs with the defaults a
 * production user gets (inbound authentication on, the 100 ms early-talker pause).
 */
const PASSWORD = 'bench password 123';
const PEER = join(__dirname, '..', '..', 'bench', 'peers', 'postfix-peer.sh');
const SMTP_SOURCE = ['/usr/sbin/smtp-source', '/usr/bin/smtp-source'].find((p) => existsSync(p)) ?? null;

export interface IngestRow {
  sessions: number;
  size: number;
  count: number;
  /** Messages Nimbus received first, not counted. */
  warmUp: number;
  /** cpuMsPerMsg: the server process (all threads); machineCpuMsPerMsg: see machineBusyMs, the same measure for both. */
  nimbus: { acceptPerSec: number; endToEndPerSec: number; cpuMsPerMsg: number; mainThreadCpuMsPerMsg: number; machineCpuMsPerMsg: number; peakRssMb: number; driver: string };
  postfix: PostfixFigures | { error: string };
  /** Throughput, Nimbus over Postfix (goal at least 1.5). */
  ratio: number | null;
  /** Machine CPU per message, Nimbus over Postfix. */
  cpuRatio: number | null;
}

type PostfixFigures = { acceptPerSec: number; endToEndPerSec: number; machineCpuMsPerMsg: number };

async function api(server: ServerProcess, path: string, init: RequestInit & { token?: string } = {}): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  return (await fetch(`http://127.0.0.1:${server.httpPort}/api${path}`, { ...init, headers })).json();
}

async function inboxTotal(server: ServerProcess, token: string): Promise<number> {
  const out = await api(server, '/mailboxes', { token });
  return out.items.find((m: { specialUse: string }) => m.specialUse === 'inbox').total;
}

/** smtp-source: `count` messages of `size` bytes over `sessions` parallel connections, one message each. */
function smtpSource(port: number, size: number, count: number, sessions: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(SMTP_SOURCE!, ['-s', String(sessions), '-m', String(count), '-l', String(size), '-f', 'bench@sender.test', '-t', 'admin@example.com', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exited ${code}: ${err.split('\n')[0]}`))));
  });
}

/** One load: smtp-source when Postfix is installed (as for the peer), else the bench's Node client; returns which. */
async function drive(port: number, size: number, count: number, sessions: number, label: string): Promise<string> {
  if (SMTP_SOURCE) {
    await smtpSource(port, size, count, sessions);
    return 'smtp-source';
  }
  const load = await runLoad({ port, total: count, concurrency: sessions, perConnection: 1, message: makeMessage(size, label), rcpt: 'admin@example.com' });
  if (load.failures) throw new Error(`${load.failures} messages refused, first: ${load.firstError}`);
  return 'node client';
}

async function nimbusIngest(size: number, count: number, warmUp: number, sessions: number): Promise<IngestRow['nimbus']> {
  const server = await startServerProcess(join(__dirname, '..', 'local', 'main.js'), { dataDir: true, http: true });
  try {
    const setup = await api(server, '/setup', { method: 'POST', body: JSON.stringify({ domain: 'example.com', email: 'admin@example.com', password: PASSWORD, name: 'Bench' }) });
    const token = setup.token as string;
    // Warm-up, not counted: the measured run is a server that has been running, as in production.
    // V8 goes on optimising for a few thousand messages: after 300, some 450 optimising compiles still
    // fell in the measured window (about 0.5 ms of background CPU per message); after 2,000 of the same
    // shape, about 150. Postfix (C, no JIT) gets none. Bodies are indexed for search as they are
    // filed, so the window holds all of the measured messages' work.
    await drive(server.smtpPort, size, warmUp, sessions, 'warm-up');
    while ((await inboxTotal(server, token)) < warmUp) await new Promise((r) => setTimeout(r, 20));
    execFileSync('sync'); // what earlier work left for the kernel to write is not this run's
    const pid = server.child.pid!;
    resetPeak(pid);
    const cpu0 = cpuMs(pid);
    const mainCpu0 = cpuMs(pid, true);
    const machine0 = machineBusyMs();
    const t0 = Date.now();
    const driver = await drive(server.smtpPort, size, count, sessions, 'ingest');
    const accepted = Date.now();
    while ((await inboxTotal(server, token)) < warmUp + count) await new Promise((r) => setTimeout(r, 10));
    const done = Date.now();
    const machineCpuMsPerMsg = (machineBusyMs() - machine0) / count;
    return {
      acceptPerSec: count / ((accepted - t0) / 1000),
      endToEndPerSec: count / ((done - t0) / 1000),
      cpuMsPerMsg: (cpuMs(pid) - cpu0) / count,
      mainThreadCpuMsPerMsg: (cpuMs(pid, true) - mainCpu0) / count,
      machineCpuMsPerMsg,
      peakRssMb: memMb(pid, 'VmHWM'),
      driver,
    };
  } finally {
    await stopServerProcess(server);
  }
}

/** One run of the peer script; its machine CPU is measured around the whole script. */
async function runPeer(size: number, count: number, sessions: number): Promise<{ acceptPerSec: number; endToEndPerSec: number; machineMs: number }> {
  // the script starts by deleting what the last run delivered (thousands of files): done here, outside the measurement
  rmSync(join(process.env.PEER_DIR || '/tmp/nimbus-postfix-peer', 'mail'), { recursive: true, force: true });
  execFileSync('sync');
  const machine0 = machineBusyMs();
  const { stdout } = await promisify(execFile)('bash', [PEER, 'ingest', String(size), String(count), String(sessions)], { timeout: 1_200_000 });
  const machineMs = machineBusyMs() - machine0;
  return { ...(JSON.parse(stdout.trim().split('\n').pop()!) as { acceptPerSec: number; endToEndPerSec: number }), machineMs };
}

/**
 * The machine CPU of the peer script's own work (building its helper, checking, starting and
 * stopping Postfix, its one-second pause), measured once as a run of 10 messages: subtracted
 * from every run, so Postfix's figure is the messages' cost (slightly less: those 10 messages'
 * own cost goes too).
 */
let peerOverheadMs: Promise<number> | null = null;

async function postfixIngest(size: number, count: number, sessions: number): Promise<IngestRow['postfix']> {
  if (!SMTP_SOURCE) return { error: 'not run: Postfix is not installed (apt-get install -y postfix)' };
  try {
    peerOverheadMs ??= runPeer(4096, 10, 10).then((r) => r.machineMs);
    const overheadMs = await peerOverheadMs;
    const { machineMs, ...rates } = await runPeer(size, count, sessions);
    return { ...rates, machineCpuMsPerMsg: Math.max(0, machineMs - overheadMs) / count };
  } catch (err) {
    peerOverheadMs = null;
    return { error: `not run: ${(err as Error).message.split('\n')[0]}` };
  }
}

export async function ingestBench(opts: { quick: boolean; sessions: number[] }, write: (line: string) => void): Promise<IngestRow[]> {
  const rows: IngestRow[] = [];
  write(`MX ingest, one message per connection, Nimbus (defaults; node ${serverNodeArgs().join(' ')}, as npm start runs it plus any BENCH_NODE_ARGS; durable and visible in the API) against Postfix 3.7 into Maildir (fsync), same machine, same run; driver: ${SMTP_SOURCE ? 'smtp-source for both' : 'the bench client (smtp-source missing)'}; Nimbus measured after a warm-up of half as many messages of the same shape (JIT), not counted; cpu = the server process (all threads); machine cpu = every process and the kernel, from /proc/stat (load generator included, the same on both sides; Postfix's script's fixed cost, a 10-message run, subtracted)\n`);
  for (const sessions of opts.sessions) {
    for (const size of [4096, 100 * 1024]) {
      const count = opts.quick ? (size === 4096 ? 2000 : 1000) : size === 4096 ? 8000 : 4000;
      const warmUp = count / 2;
      const nimbus = await nimbusIngest(size, count, warmUp, sessions);
      const postfix = await postfixIngest(size, count, sessions);
      const ratio = 'error' in postfix ? null : nimbus.endToEndPerSec / postfix.endToEndPerSec;
      const cpuRatio = 'error' in postfix || !postfix.machineCpuMsPerMsg ? null : nimbus.machineCpuMsPerMsg / postfix.machineCpuMsPerMsg;
      rows.push({ sessions, size, count, warmUp, nimbus, postfix, ratio, cpuRatio });
      const label = `${sessions} sessions, ${size === 4096 ? '4 KB' : '100 KB'}, ${count} msgs`;
      write(
        `  ${label.padEnd(32)} Nimbus ${nimbus.endToEndPerSec.toFixed(0).padStart(5)} msg/s end to end (accepted ${nimbus.acceptPerSec.toFixed(0)})  cpu ${nimbus.cpuMsPerMsg.toFixed(2)} ms/msg (main thread ${nimbus.mainThreadCpuMsPerMsg.toFixed(2)}; machine ${nimbus.machineCpuMsPerMsg.toFixed(2)})  peak RSS ${nimbus.peakRssMb.toFixed(0)} MB  | ` +
          ('error' in postfix
            ? `Postfix ${postfix.error}`
            : `Postfix ${postfix.endToEndPerSec.toFixed(0).padStart(5)} msg/s (accepted ${postfix.acceptPerSec.toFixed(0)})  machine cpu ${postfix.machineCpuMsPerMsg.toFixed(2)} ms/msg  | ratio ${ratio!.toFixed(2)} (goal 1.5), machine cpu Nimbus/Postfix ${cpuRatio === null ? 'n/a' : cpuRatio.toFixed(2)}`) +
          '\n',
      );
    }
  }
  return rows;
}
