import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLoopbackDnsServer, type LoopbackDnsServer } from '../adapters/dns/loopback-dns-server';
import { SERVER_NODE_FLAGS } from '../core/node-flags';

/**
 * A server in a process of its own, as `npm start` runs it, for measurements that
 * must not include the measuring process: the benchmarks and the memory tests.
 * Linux only (/proc).
 */
export interface ServerProcess {
  child: ChildProcess;
  smtpPort: number;
  httpPort: number | null;
  dataDir: string | null;
  /** The DNS server it asks, when the caller named none (NIMBUS_DNS_SERVERS): an empty table on loopback, so no question leaves the machine. */
  dns: LoopbackDnsServer | null;
}

/**
 * The flags a server process starts with: those `npm start` gives (SERVER_NODE_FLAGS), then
 * BENCH_NODE_ARGS (e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof'), then `extra`.
 */
export function serverNodeArgs(extra: readonly string[] = []): string[] {
  return [...SERVER_NODE_FLAGS, ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), ...extra];
}

/** Starts `entry` (a built file under dist/) with serverNodeArgs(nodeArgs) and waits for the ports it prints; `dataDir` true gives it a fresh data folder. */
export async function startServerProcess(entry: string, opts: { env?: Record<string, string>; dataDir?: boolean; http?: boolean; nodeArgs?: string[] } = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ? mkdtempSync(join(tmpdir(), 'nimbus-process-')) : null;
  const dns = opts.env?.NIMBUS_DNS_SERVERS || process.env.NIMBUS_DNS_SERVERS ? null : await startLoopbackDnsServer();
  const child = spawn(process.execPath, [...serverNodeArgs(opts.nodeArgs), entry], {
    env: { ...process.env, ...(dns ? { NIMBUS_DNS_SERVERS: dns.address } : {}), NIMBUS_DATA_DIR: dataDir ?? '', NIMBUS_SMTP_PORT: '0', NIMBUS_SUBMISSION_PORT: '0', NIMBUS_SUBMISSION_TLS_PORT: '0', NIMBUS_HTTP_PORT: '0', NIMBUS_LOG_LEVEL: 'warn', NIMBUS_HOSTNAME: 'mx.bench', ...opts.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const until = Date.now() + 30_000;
  for (;;) {
    const smtp = /SMTP {2}127\.0\.0\.1:(\d+)/.exec(out);
    const http = /HTTP {2}http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    if (smtp && (!opts.http || http)) return { child, smtpPort: Number(smtp[1]), httpPort: http ? Number(http[1]) : null, dataDir, dns };
    if (Date.now() > until || child.exitCode !== null) {
      child.kill('SIGKILL');
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      await dns?.stop();
      throw new Error(`${entry} did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function stopServerProcess(server: ServerProcess): Promise<void> {
  try {
    // a child that ended on a signal has no exit code, but its signal code: it will not exit again
    if (server.child.exitCode === null && server.child.signalCode === null) {
      const exited = once(server.child, 'exit');
      server.child.kill('SIGTERM');
      await exited;
    }
  } finally {
    if (server.dataDir) rmSync(server.dataDir, { recursive: true, force: true });
    await server.dns?.stop();
  }
}

const TICK = 100; // USER_HZ on Linux

/** CPU time of a process (all its threads), or of its main thread only. */
export function cpuMs(pid: number, mainThreadOnly = false): number {
  const fields = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK; // utime + stime
}

/**
 * Busy CPU time of the whole machine since boot: every process and the kernel (user, nice,
 * system, irq and softirq in /proc/stat; not idle, iowait or steal). Over a window where
 * nothing else runs, it is what a load cost, the load generator included.
 */
export function machineBusyMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/); // cpu user nice system idle iowait irq softirq steal
  return ([1, 2, 3, 6, 7].reduce((sum, i) => sum + Number(cpu[i]), 0) * 1000) / TICK;
}

/** A process's resident set (VmRSS) or its peak since the last resetPeak (VmHWM), in MB. */
export function memMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Resets VmHWM to the current RSS; false where the kernel does not allow it (the peak then includes earlier work, which only overstates it). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
