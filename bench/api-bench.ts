import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDb } from '../adapters/embedded/sqlite';
import { SqliteMailStore } from '../adapters/embedded/sqlite-mail-store';
import { hashPassword } from '../core/auth';
import { seedMailbox } from './seed';
import { serverNodeArgs } from './server-process';
import { percentile } from './smtp-load';

export async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

/** The built local host (its own process, as `npm start` runs it) on a mailbox seeded with `count` messages. */
export interface SeededServer {
  count: number;
  port: number;
  /** `http://127.0.0.1:<port>/api` */
  base: string;
  email: string;
  password: string;
  login(): Promise<string>;
}

/**
 * Seeds a mailbox of `count` messages straight through the MailStore, starts the built
 * server on it, waits until the body text is indexed (so search figures are of a
 * finished index), runs `fn`, stops the server and removes the data.
 */
export async function withSeededServer<T>(count: number, write: (line: string) => void, fn: (server: SeededServer) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-api-bench-'));
  const password = 'bench password 123';
  try {
    const t0 = Date.now();
    const db = new EmbeddedDb(join(dataDir, 'nimbus.db'));
    const store = new SqliteMailStore(db);
    const user = await store.setup({ domain: 'example.com', email: 'admin@example.com', name: 'Bench', passwordHash: await hashPassword(password) });
    const inbox = (await store.findMailboxBySpecialUse(user.id, 'inbox'))!;
    await seedMailbox(store, user.id, inbox.id, count);
    await db.close();
    write(`  seeded ${count} messages through the MailStore in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

    const child = spawn(process.execPath, [...serverNodeArgs(), join(__dirname, '..', 'local', 'main.js')], {
      env: { ...process.env, NIMBUS_DATA_DIR: dataDir, NIMBUS_SMTP_PORT: '0', NIMBUS_SUBMISSION_PORT: '0', NIMBUS_SUBMISSION_TLS_PORT: '0', NIMBUS_HTTP_PORT: '0', NIMBUS_LOG_LEVEL: 'warn', NIMBUS_LOGIN_MAX_FAILURES_PER_IP: '1000000', NIMBUS_PASSWORD_CACHE_SECONDS: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      let port = 0;
      while (!port) {
        port = Number(/HTTP {2}http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? 0);
        if (child.exitCode !== null) throw new Error(`server did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const base = `http://127.0.0.1:${port}/api`;
      const login = async () => {
        const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password }) });
        if (res.status !== 200) throw new Error(`login ${res.status}`);
        return ((await res.json()) as { token: string }).token;
      };
      return await fn({ count, port, base, email: user.email, password, login });
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * API figures on the seeded mailbox: first-page list latency, search latency, login
 * throughput. Requests come one at a time from this process, on loopback.
 */
export async function apiFigures(server: SeededServer, write: (line: string) => void): Promise<Record<string, unknown>> {
  const token = await server.login();
  const get = async (path: string): Promise<number> => {
    const res = await fetch(server.base + path, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    return ((await res.json()) as { items: unknown[] }).items.length;
  };
  await timed(20, async () => void (await get('/mails?limit=50'))); // warm-up
  const list = await timed(300, async () => void (await get('/mails?limit=50')));
  const deep = await timed(100, async () => void (await get('/mails?limit=50&unread=true')));
  const searches: Record<string, number[]> = {};
  const hits: Record<string, number> = {};
  for (const q of ['zanzibar', 'invoice deadline', 'sender42', 'sierra tango uniform']) {
    hits[q] = await get(`/mails?q=${encodeURIComponent(q)}&limit=50`);
    searches[q] = await timed(50, async () => void (await get(`/mails?q=${encodeURIComponent(q)}&limit=50`)));
  }
  const fmt = (v: number[]) => `p50 ${percentile(v, 50).toFixed(1)} ms, p99 ${percentile(v, 99).toFixed(1)} ms`;
  write(`  first page (50) of the Inbox: ${fmt(list)}; first unread page: ${fmt(deep)}\n`);
  for (const [q, v] of Object.entries(searches)) write(`  search q="${q}" (first page: ${hits[q]} hits): ${fmt(v)}\n`);

  const seconds = 5;
  let logins = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < until) {
        await server.login();
        logins++;
      }
    }),
  );
  write(`  login throughput (bcrypt cost 10 on every login: this server runs with NIMBUS_PASSWORD_CACHE_SECONDS=0; 4 clients in parallel): ${(logins / seconds).toFixed(1)} logins/s\n`);
  return { count: server.count, list, deep, searches, loginsPerSecond: logins / seconds };
}
