import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDb } from '../adapters/embedded/sqlite';
import { SqliteMailStore } from '../adapters/embedded/sqlite-mail-store';
import { hashPassword } from '../core/auth';
import type { NewMessage } from '../core/ports';
import { percentile } from './smtp-load';

const WORDS = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu invoice meeting report budget travel lunch project deadline review update'.split(' ');

function sentence(seed: number, words: number): string {
  let out = '';
  let x = seed;
  for (let i = 0; i < words; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += WORDS[x % WORDS.length] + ' ';
  }
  return out.trim();
}

export async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

/**
 * API figures on a mailbox of `count` messages, seeded straight through the MailStore:
 * first-page list latency, search latency, login throughput. The server runs in its own
 * process (the built local host); requests come one at a time from this one, on loopback.
 */
export async function apiBench(count: number, write: (line: string) => void): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-api-bench-'));
  const password = 'bench password 123';
  try {
    const t0 = Date.now();
    const db = new EmbeddedDb(join(dataDir, 'nimbus.db'));
    const store = new SqliteMailStore(db);
    const user = await store.setup({ domain: 'example.com', email: 'admin@example.com', name: 'Bench', passwordHash: await hashPassword(password) });
    const inbox = (await store.findMailboxBySpecialUse(user.id, 'inbox'))!;
    const batch = 2000;
    for (let start = 0; start < count; start += batch) {
      const items: NewMessage[] = [];
      for (let i = start; i < Math.min(count, start + batch); i++) {
        const subject = `${sentence(i, 5)} #${i}`;
        items.push({
          userId: user.id,
          mailboxId: inbox.id,
          inboundId: `seed-${i}`,
          rawBlobKey: `raw/seed-${i}.eml`,
          size: 4096,
          receivedAt: 1_700_000_000_000 + i * 1000,
          summary: {
            from: { address: `sender${i % 500}@example.net`, name: `Sender ${i % 500}` },
            to: [{ address: 'admin@example.com', name: 'Bench' }],
            cc: [],
            subject,
            date: 1_700_000_000_000 + i * 1000,
            messageId: `<seed-${i}@example.net>`,
            attachments: [],
            snippet: sentence(i + 7, 30).slice(0, 200),
            searchText: sentence(i + 7, 150) + (i % 1000 === 0 ? ' zanzibar' : ''),
          },
          auth: null,
        });
      }
      await store.fileMessages(items);
    }
    await db.close();
    write(`  seeded ${count} messages through the MailStore in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

    const child = spawn(process.execPath, [join(__dirname, '..', 'local', 'main.js')], {
      env: { ...process.env, NIMBUS_DATA_DIR: dataDir, NIMBUS_SMTP_PORT: '0', NIMBUS_SUBMISSION_PORT: '0', NIMBUS_SUBMISSION_TLS_PORT: '0', NIMBUS_HTTP_PORT: '0', NIMBUS_LOG_LEVEL: 'warn', NIMBUS_LOGIN_MAX_FAILURES_PER_IP: '1000000' },
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
      // body text is indexed in the background: measure search on a finished index, and say how long it took
      const t1 = Date.now();
      const reader = new Database(join(dataDir, 'nimbus.db'), { readonly: true });
      try {
        while ((reader.prepare('SELECT COUNT(*) AS n FROM fts_pending').get() as { n: number }).n > 0) await new Promise((r) => setTimeout(r, 100));
      } finally {
        reader.close();
      }
      write(`  body text of ${count} messages indexed in the background in ${((Date.now() - t1) / 1000).toFixed(1)} s\n`);
      const base = `http://127.0.0.1:${port}/api`;
      const loginOnce = async () => {
        const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password }) });
        if (res.status !== 200) throw new Error(`login ${res.status}`);
        return ((await res.json()) as { token: string }).token;
      };
      const token = await loginOnce();
      const get = async (path: string): Promise<number> => {
        const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
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
            await loginOnce();
            logins++;
          }
        }),
      );
      write(`  login throughput (bcrypt cost 10, 4 clients in parallel): ${(logins / seconds).toFixed(1)} logins/s\n`);
      return { count, list, deep, searches, loginsPerSecond: logins / seconds };
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
