import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appUrl, launchBrowser, openContext, PHONE, signIn } from './browser';
import { startTestHost, waitFor, type TestHost } from './helpers';

/**
 * axe-core (Deque's accessibility engine) over the webmail's main screens in Chromium:
 * no violation of its WCAG 2.1 A/AA rules, whatever the impact. axe is run through the
 * DevTools protocol (page.evaluate), so the app's CSP stays as it is.
 */
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// page-side code (runs in Chromium; this project compiles without DOM types)
declare const document: unknown;
declare const axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }>; passes: unknown[] }> };

async function audit(page: Page): Promise<{ violations: string[]; passes: number }> {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const violations = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  return { violations, passes: result.passes.length };
}

describe('webmail accessibility (axe-core, WCAG 2.1 AA)', () => {
  let host: TestHost;
  let browser: Browser;
  beforeAll(async () => {
    host = await startTestHost();
    browser = await launchBrowser();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'Bob <bob@sender.test>', to: 'admin@example.com', subject: 'Accessible lunch', text: 'Shall we?', attachments: [{ filename: 'menu.txt', content: 'soup' }] });
    transport.close();
    await waitFor(async () => ((await (await host.api('/mails', { token: host.token })).json()) as { items: unknown[] }).items.length > 0 || undefined);
  });
  afterAll(async () => {
    await browser?.close();
    await host?.destroy();
  });

  it('setup, sign-in, Inbox with a message open, the shortcuts overlay, compose, admin pages, settings, and the phone layout', async () => {
    const found: Record<string, string[]> = {};
    let checked = 0;
    const check = async (name: string, page: Page) => {
      const { violations, passes } = await audit(page);
      checked += passes;
      if (violations.length) found[name] = violations;
    };
    const fresh = await startTestHost({}, { setup: false });
    try {
      const first = await openContext(browser);
      await first.page.goto(appUrl(fresh, '/'));
      await first.page.getByRole('heading', { name: 'Set up your mail server' }).waitFor();
      await check('setup', first.page);
    } finally {
      await fresh.destroy();
    }
    const { page } = await openContext(browser);
    await page.goto(appUrl(host, '/'));
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await check('sign-in', page);

    await signIn(page, host);
    await page.getByTestId('message-row').filter({ hasText: 'Accessible lunch' }).getByRole('link').click();
    await page.getByRole('heading', { name: 'Accessible lunch' }).waitFor();
    await check('inbox + reader', page);
    await page.keyboard.press('?');
    await page.getByRole('dialog').waitFor();
    await check('shortcuts overlay', page);
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByLabel('Subject').waitFor();
    await check('compose', page);
    for (const [path, shown] of [['/admin/users', 'admin@example.com'], ['/admin/domains', 'example.com'], ['/settings', 'admin@example.com']]) {
      await page.goto(appUrl(host, path));
      await page.getByRole('main').getByText(shown).first().waitFor();
      await check(path, page);
    }
    const phone = await openContext(browser, { viewport: PHONE, isMobile: true });
    await signIn(phone.page, host);
    await phone.page.getByTestId('message-row').first().waitFor();
    await check('phone inbox', phone.page);

    expect(checked).toBeGreaterThan(50); // the rules really ran
    expect(found).toEqual({});
  }, 90_000);
});
