import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../bench/chromium';
import type { TestHost } from './helpers';

/** Screenshots of the main screens (git-ignored; README names the folder). */
export const SCREENSHOT_DIR = join(__dirname, '..', 'test-output', 'screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** Debian's Chromium, headless, fresh profile, off the network (bench/chromium.ts). */
export const launchBrowser = launchChromium;

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Every request that left loopback (each was aborted). */
  offsite: string[];
  consoleErrors: string[];
  pageErrors: string[];
  dialogs: string[];
}

const isLoopback = (url: URL) => url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.protocol === 'data:' || url.protocol === 'blob:' || url.protocol === 'about:';

/**
 * A fresh context (own storage, no cache) whose page reports console errors, page
 * errors and dialogs, and in which every request to anywhere but loopback is
 * recorded and aborted, so a test can assert that nothing left the machine.
 */
export async function openContext(browser: Browser, opts: { viewport?: { width: number; height: number }; pollMs?: number; isMobile?: boolean } = {}): Promise<Watched> {
  // reduced motion: the phone drawer is in place at once, so screenshots show it whole
  const context = await browser.newContext({ viewport: opts.viewport ?? DESKTOP, isMobile: opts.isMobile, hasTouch: opts.isMobile, acceptDownloads: true, reducedMotion: 'reduce' });
  const watched: Watched = { context, page: null as unknown as Page, offsite: [], consoleErrors: [], pageErrors: [], dialogs: [] };
  await context.route(
    (url) => !isLoopback(url),
    (route) => {
      watched.offsite.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  await context.addInitScript((pollMs: number) => {
    if (!localStorage.getItem('nimbus.pollMs')) localStorage.setItem('nimbus.pollMs', String(pollMs));
  }, opts.pollMs ?? 500);
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && watched.consoleErrors.push(m.text()));
  page.on('pageerror', (e) => watched.pageErrors.push(e.message));
  page.on('dialog', (d) => {
    watched.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  watched.page = page;
  return watched;
}

/** An API answer as loosely typed JSON (tests check its fields). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const apiJson = async (host: TestHost, path: string, init?: RequestInit & { token?: string }): Promise<any> => (await host.api(path, init)).json();

// page-side code (runs in Chromium; this project compiles without DOM types)
declare const localStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void };

export const appUrl = (host: TestHost, path = '/') => `http://127.0.0.1:${host.httpPort}${path}`;

/** Signs in through the page (the token goes where the app keeps it), then opens `path`. */
export async function signIn(page: Page, host: TestHost, path = '/mail/inbox', token = host.token): Promise<void> {
  await page.goto(appUrl(host, '/favicon.svg')); // any page of the app's origin (API answers are sandboxed: no storage there)
  const me = await (await host.api('/auth/me', { token })).json();
  await page.evaluate(([t, user]) => localStorage.setItem('nimbus.session', JSON.stringify({ token: t, expiresAt: new Date(Date.now() + 3600_000).toISOString(), user })), [token, me] as const);
  await page.goto(appUrl(host, path));
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}
