import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { defaultWebmailDir } from '../local/static-files';
import type { SeededServer } from './api-bench';
import { CHROMIUM, chromiumInstalled, launchChromium } from './chromium';
import { percentile } from './smtp-load';

/** The webmail's JavaScript as the browser downloads it: every script of the build, gzip'd (level 9, as a server would send it at best; ours uses the default level). */
export function webmailJsSize(write: (line: string) => void): { files: Array<{ name: string; bytes: number; gzip: number }>; bytes: number; gzip: number } {
  const assets = join(defaultWebmailDir(), 'assets');
  const files = readdirSync(assets)
    .filter((f) => f.endsWith('.js'))
    .map((name) => {
      const body = readFileSync(join(assets, name));
      return { name, bytes: body.length, gzip: gzipSync(body, { level: 9 }).length };
    });
  const bytes = files.reduce((s, f) => s + f.bytes, 0);
  const gzip = files.reduce((s, f) => s + f.gzip, 0);
  write(`  webmail JavaScript: ${(gzip / 1024).toFixed(1)} KB gzip (${(bytes / 1024).toFixed(0)} KB raw, ${files.length} file${files.length === 1 ? '' : 's'}); goal < 250 KB gzip\n`);
  return { files, bytes, gzip };
}

/**
 * Time until the Inbox of the seeded mailbox shows its first page in Chromium: from
 * the navigation's start to the first animation frame in which message rows are in
 * the page. "Cold": a fresh browser context each run (nothing cached, as a first
 * visit); "warm": a reload in that context (scripts from the cache, as on return).
 */
export async function webmailFirstPage(server: SeededServer, runs: number, write: (line: string) => void): Promise<{ cold: number[]; warm: number[]; rows: number } | null> {
  if (!chromiumInstalled()) {
    write(`  time to the Inbox's first page: skipped, no Chromium at ${CHROMIUM} (apt-get install -y chromium)\n`);
    return null;
  }
  const token = await server.login();
  const me = await (await fetch(`${server.base}/auth/me`, { headers: { authorization: `Bearer ${token}` } })).json();
  const session = JSON.stringify({ token, expiresAt: new Date(Date.now() + 3600_000).toISOString(), user: me });
  const browser = await launchChromium();
  const cold: number[] = [];
  const warm: number[] = [];
  let rows = 0;
  try {
    // runs in the page (this project compiles without DOM types)
    const firstRows = () => ((globalThis as any).document.querySelector('[data-testid=message-row]') ? performance.now() : 0); // eslint-disable-line @typescript-eslint/no-explicit-any
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort());
      await context.addInitScript(`localStorage.setItem('nimbus.session', ${JSON.stringify(session)})`);
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${server.port}/mail/inbox`);
      cold.push((await (await page.waitForFunction(firstRows, undefined, { polling: 'raf', timeout: 30_000 })).jsonValue()) as number);
      rows = await page.locator('[data-testid=message-row]').count();
      await page.reload();
      warm.push((await (await page.waitForFunction(firstRows, undefined, { polling: 'raf', timeout: 30_000 })).jsonValue()) as number);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  const fmt = (v: number[]) => `p50 ${percentile(v, 50).toFixed(0)} ms (min ${Math.min(...v).toFixed(0)}, max ${Math.max(...v).toFixed(0)})`;
  write(`  time to the Inbox's first page in Chromium (${server.count} messages, ${runs} runs, ${rows} rows shown): cold ${fmt(cold)}; warm ${fmt(warm)}; goal < 1000 ms\n`);
  return { cold, warm, rows };
}
