import nodemailer, { type SendMailOptions } from 'nodemailer';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../functions/http/routes';
import { apiJson, appUrl, launchBrowser, openContext, PHONE, screenshot, signIn } from './browser';
import { PASSWORD, startTestHost, waitFor, type TestHost } from './helpers';

// the callbacks given to page.evaluate run in Chromium; this project compiles without DOM types
declare const document: any, window: any, getComputedStyle: any;

/** Whether the sending issue's route is on this branch: its steps run once it has landed. */
const hasSend = routes.some((r) => r.route === 'mails/{id}/send' && r.methods.includes('POST'));
/** Whether the domains issue's routes are on this branch. */
const hasDomains = routes.some((r) => r.route === 'domains' && r.methods.includes('GET'));

// a real 1x1 PNG
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

async function smtpSend(host: TestHost, mail: SendMailOptions): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
  const info = await transport.sendMail(mail);
  expect(info.response).toMatch(/^250 /);
}

const row = (page: Page, text: string) => page.getByTestId('message-row').filter({ hasText: text });

/** Every visible control has an accessible name (labels, aria-label, text), the poor man's axe. */
async function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const visible = (el: any) => {
      const r = el.getBoundingClientRect();
      const s = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
    };
    for (const el of document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, iframe, [role=combobox], [role=option]')) {
      if (!visible(el) || el.closest('[aria-hidden=true]')) continue;
      const labelledBy = el.getAttribute('aria-labelledby');
      const name =
        el.getAttribute('aria-label') ||
        (labelledBy ? labelledBy.split(' ').map((id: string) => document.getElementById(id)?.textContent ?? '').join(' ') : '') ||
        ('labels' in el ? Array.from((el as any).labels ?? []).map((l: any) => l.textContent).join(' ') : '') ||
        el.getAttribute('title') ||
        (el.tagName !== 'INPUT' && el.tagName !== 'TEXTAREA' ? el.textContent : '') ||
        '';
      if (!name.trim()) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
}

describe('webmail in Chromium: first run, reading, replying, files, search, keyboard, phone', () => {
  let host: TestHost;
  let browser: Browser;
  let adminToken = '';
  let bobToken = '';

  beforeAll(async () => {
    host = await startTestHost({}, { setup: false });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await host?.destroy();
  });

  it('first-run setup in the browser; mail sent over SMTP appears without a reload (counts and title follow); open it; reply', async () => {
    const { page, offsite, pageErrors } = await openContext(browser);
    await page.goto(appUrl(host, '/'));
    await page.getByRole('heading', { name: 'Set up your mail server' }).waitFor();
    await screenshot(page, 'desktop-setup');
    await page.getByLabel('Your domain').fill('example.com');
    await page.getByLabel('Your name').fill('Ada Admin');
    await page.getByLabel('Password (at least 8 characters)').fill(PASSWORD);
    await page.getByLabel('Password again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create and sign in' }).click();
    await page.getByRole('heading', { name: 'Inbox', exact: true }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/mail/inbox');
    await page.getByText('No messages here.').waitFor();

    // the setup made the admin: the API agrees, and a second user (the correspondent) is created
    const login = await apiJson(host, '/auth/login', { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: PASSWORD }) });
    adminToken = login.token;
    expect(login.user).toMatchObject({ email: 'admin@example.com', name: 'Ada Admin', role: 'admin' });
    expect((await host.api('/auth/register', { method: 'POST', token: adminToken, body: JSON.stringify({ email: 'bob@example.com', name: 'Bob Builder', password: PASSWORD }) })).status).toBe(201);
    bobToken = (await apiJson(host, '/auth/login', { method: 'POST', body: JSON.stringify({ email: 'bob@example.com', password: PASSWORD }) })).token;

    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'no reload'));
    await smtpSend(host, {
      from: '"Bob Builder" <bob@example.com>',
      to: 'Ada Admin <admin@example.com>',
      subject: 'Lunch on Friday?',
      // the middle of a thread: a reply to it carries the whole chain
      references: ['<root@bob.example>', '<middle@bob.example>'],
      text: 'Hi Ada,\nare you free on Friday?\nMenu: https://menu.example.org/friday\n\nBob',
      attachments: [
        { filename: 'notes.txt', content: 'bring cake', contentType: 'text/plain' },
        { filename: 'map.png', content: PNG, contentType: 'image/png' },
      ],
    });
    await row(page, 'Lunch on Friday?').waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('no reload');
    await expect.poll(() => page.title(), { timeout: 10_000 }).toBe('(1) Inbox – Nimbus Mail');
    await page.getByRole('link', { name: /Inbox\s*1 unread/ }).waitFor();
    expect(await row(page, 'Lunch on Friday?').getAttribute('class')).toContain('unread');
    expect(await row(page, 'Lunch on Friday?').getByRole('img', { name: 'Has attachments' }).count()).toBe(1);
    await screenshot(page, 'desktop-inbox');

    // open: headers, text with its line breaks and a link that opens safely in a new tab; it becomes read
    await row(page, 'Lunch on Friday?').getByRole('link').click();
    await page.getByRole('heading', { name: 'Lunch on Friday?' }).waitFor();
    const body = page.locator('.plain-body');
    expect(await body.locator(':scope > div').allInnerTexts()).toEqual(['Hi Ada,', 'are you free on Friday?', 'Menu: https://menu.example.org/friday', '\u00a0', 'Bob']);
    const link = body.getByRole('link', { name: 'https://menu.example.org/friday' });
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await page.locator('.reader-meta').innerText()).toContain('Bob Builder');
    await expect.poll(() => page.title(), { timeout: 10_000 }).toBe('Inbox – Nimbus Mail');
    await expect.poll(async () => (await apiJson(host, '/mailboxes', { token: adminToken })).items.find((m: { specialUse: string }) => m.specialUse === 'inbox').unread).toBe(0);
    await screenshot(page, 'desktop-reader');
    expect(await unnamedControls(page)).toEqual([]);

    // reply: addressed to Bob, subject and quote right, In-Reply-To the original's Message-ID; saved as a draft by itself
    const original = (await apiJson(host, '/mails', { token: adminToken })).items[0];
    const originalFull = await apiJson(host, `/mails/${original.id}`, { token: adminToken });
    await page.getByRole('button', { name: 'Reply', exact: true }).click();
    await page.getByRole('heading', { name: 'Reply', exact: true }).waitFor();
    expect(await page.locator('.chip').allInnerTexts()).toEqual([expect.stringContaining('bob@example.com')]);
    expect(await page.getByLabel('Subject').inputValue()).toBe('Re: Lunch on Friday?');
    const quoted = await page.getByLabel('Message', { exact: true }).inputValue();
    expect(quoted).toContain('Bob Builder <bob@example.com> wrote:\n> Hi Ada,\n> are you free on Friday?');
    await page.getByLabel('Message', { exact: true }).press('Control+Home');
    await page.getByLabel('Message', { exact: true }).pressSequentially('Friday works. ');
    // saved by itself (no button pressed): the server has the whole reply
    const draft = await waitFor(async () => {
      const boxes = (await apiJson(host, '/mailboxes', { token: adminToken })).items;
      const draftsBox = boxes.find((m: { specialUse: string }) => m.specialUse === 'drafts');
      const items = (await apiJson(host, `/mails?mailbox=${draftsBox.id}`, { token: adminToken })).items;
      const d = items.length ? await apiJson(host, `/mails/${items[0].id}`, { token: adminToken }) : null;
      return d?.draft.text.startsWith('Friday works. ') ? d : undefined;
    }, 20_000);
    expect(draft.draft).toMatchObject({ to: [{ address: 'bob@example.com' }], subject: 'Re: Lunch on Friday?', inReplyTo: originalFull.messageId });
    expect(draft.draft.references).toEqual(['<root@bob.example>', '<middle@bob.example>', originalFull.messageId]);
    await page.getByTestId('save-state').filter({ hasText: 'Draft saved' }).waitFor({ timeout: 15_000 });
    await screenshot(page, 'desktop-compose');

    // the draft is kept when compose closes, and opens again as it was left
    await page.getByRole('button', { name: 'Close (the draft is kept)' }).click();
    await page.getByRole('link', { name: 'Drafts' }).click();
    await row(page, 'Re: Lunch on Friday?').waitFor();
    await row(page, 'Re: Lunch on Friday?').getByRole('link').click();
    await page.getByRole('heading', { name: 'Draft', exact: true }).waitFor();
    expect(await page.getByLabel('Subject').inputValue()).toBe('Re: Lunch on Friday?');
    expect((await page.getByLabel('Message', { exact: true }).inputValue()).startsWith('Friday works. ')).toBe(true);
    expect(await page.locator('.chip').allInnerTexts()).toEqual([expect.stringContaining('bob@example.com')]);

    expect(hasSend).toBe(true);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.getByRole('heading', { name: 'Message sent' }).waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('delivery-row').allInnerTexts()).toEqual([expect.stringContaining('bob@example.com')]);
    // in Sent, and in Bob's Inbox
    await page.getByRole('button', { name: 'Open in Sent' }).click();
    await page.getByRole('heading', { name: 'Re: Lunch on Friday?' }).waitFor();
    const bobInbox = await waitFor(async () => {
      const items = (await apiJson(host, '/mails', { token: bobToken })).items;
      return items.find((m: { subject: string }) => m.subject === 'Re: Lunch on Friday?');
    }, 20_000);
    expect(bobInbox.from.address).toBe('admin@example.com');
    const received = await apiJson(host, `/mails/${bobInbox.id}`, { token: bobToken });
    expect(received).toMatchObject({ inReplyTo: originalFull.messageId, references: ['<root@bob.example>', '<middle@bob.example>', originalFull.messageId] });
    expect(offsite).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('attachments: uploaded with progress onto a draft; downloaded from a message; images previewed', async () => {
    const { page, pageErrors } = await openContext(browser);
    await signIn(page, host, '/mail/inbox', adminToken);
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByRole('heading', { name: 'New message' }).waitFor();
    await page.getByLabel('To').fill('bob@example.com');
    await page.getByLabel('To').press('Enter');
    await page.getByLabel('Subject').fill('Two files');
    await page.getByTestId('attach-input').setInputFiles([
      { name: 'report.txt', mimeType: 'text/plain', buffer: Buffer.from('quarterly numbers\n') },
      { name: 'photo.png', mimeType: 'image/png', buffer: PNG },
    ]);
    await page.getByRole('button', { name: 'Remove photo.png' }).waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Remove report.txt' }).waitFor();
    const draftList = (await apiJson(host, '/mails?q=Two%20files', { token: adminToken })).items;
    const draft = await waitFor(async () => {
      const d = await apiJson(host, `/mails/${draftList[0]?.id ?? 'none'}`, { token: adminToken });
      return d.draftAttachments?.length === 2 ? d : undefined;
    });
    expect(draft.draftAttachments.map((a: { filename: string; size: number }) => [a.filename, a.size])).toEqual([
      ['report.txt', 18],
      ['photo.png', PNG.length],
    ]);
    // removing one keeps the other
    await page.getByRole('button', { name: 'Remove report.txt' }).click();
    await page.getByRole('button', { name: 'Remove report.txt' }).waitFor({ state: 'detached' });
    const after = await apiJson(host, `/mails/${draft.id}`, { token: adminToken });
    expect(after.draftAttachments.map((a: { filename: string }) => a.filename)).toEqual(['photo.png']);
    await page.keyboard.press('Escape');
    await page.getByRole('heading', { name: 'New message' }).waitFor({ state: 'detached' });

    // download from the received message, bytes intact; the image has a preview
    await page.goto(appUrl(host, '/mail/inbox'));
    await row(page, 'Lunch on Friday?').getByRole('link').click();
    await page.getByRole('heading', { name: 'Lunch on Friday?' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download notes.txt' }).click()]);
    expect(download.suggestedFilename()).toBe('notes.txt');
    const path = await download.path();
    expect((await import('node:fs')).readFileSync(path).toString()).toBe('bring cake');
    await page.getByRole('button', { name: 'Preview map.png' }).click();
    const preview = page.getByRole('dialog', { name: 'map.png' }).getByRole('img', { name: 'map.png' });
    await preview.waitFor();
    expect(await preview.getAttribute('src')).toMatch(/^blob:/);
    expect(await preview.evaluate((img: any) => img.naturalWidth)).toBe(1);
    await page.keyboard.press('Escape');
    expect(pageErrors).toEqual([]);
  });

  it('addresses: completion from recent correspondents (keyboard), invalid ones marked and never saved', async () => {
    const { page } = await openContext(browser);
    await signIn(page, host, '/mail/inbox', adminToken);
    // reading a message makes its people recent correspondents
    await row(page, 'Lunch on Friday?').getByRole('link').click();
    await page.getByRole('heading', { name: 'Lunch on Friday?' }).waitFor();
    await page.keyboard.press('c');
    const to = page.getByRole('combobox', { name: 'To' });
    await to.pressSequentially('bo');
    const option = page.getByRole('listbox', { name: 'Suggestions for To' }).getByRole('option');
    await option.first().waitFor();
    expect(await option.allInnerTexts()).toEqual([expect.stringContaining('bob@example.com')]);
    await to.press('Enter');
    expect(await page.locator('.chip').allInnerTexts()).toEqual([expect.stringContaining('Bob Builder <bob@example.com>')]);
    await to.pressSequentially('not-an-address');
    await to.press('Enter');
    await page.getByText('Not a valid address: not-an-address').waitFor();
    expect(await to.getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('Subject').fill('Checked addresses');
    await expect
      .poll(async () => {
        const found = (await apiJson(host, '/mails?q=Checked%20addresses', { token: adminToken })).items[0];
        return found ? (await apiJson(host, `/mails/${found.id}`, { token: adminToken })).draft.to : null;
      }, { timeout: 15_000 })
      .toEqual([{ address: 'bob@example.com', name: 'Bob Builder' }]);
    await page.getByRole('button', { name: 'Discard' }).click();
    await page.getByRole('heading', { name: 'New message' }).waitFor({ state: 'detached' });
  });

  it('search finds a message (the API q, every folder), and says so when nothing matches', async () => {
    const { page } = await openContext(browser);
    await signIn(page, host, '/mail/inbox', adminToken);
    await smtpSend(host, { from: 'carol@elsewhere.test', to: 'admin@example.com', subject: 'Invoice 4711 for October', text: 'Please find the invoice attached.' });
    await row(page, 'Invoice 4711').waitFor({ timeout: 20_000 });
    await page.getByRole('searchbox', { name: 'Search mail' }).fill('invoice');
    await page.getByRole('searchbox', { name: 'Search mail' }).press('Enter');
    await page.getByRole('heading', { name: 'Search: “invoice”' }).waitFor();
    expect(new URL(page.url()).searchParams.get('q')).toBe('invoice');
    await expect.poll(() => page.getByTestId('message-row').allInnerTexts(), { timeout: 10_000 }).toEqual([expect.stringContaining('Invoice 4711 for October')]);
    await screenshot(page, 'desktop-search');
    // a deep link to a search works after a reload
    await page.reload();
    await row(page, 'Invoice 4711').waitFor();
    await page.getByRole('searchbox', { name: 'Search mail' }).fill('zzyzx');
    await page.getByRole('searchbox', { name: 'Search mail' }).press('Enter');
    await page.getByText('No messages match your search.').waitFor();
  });

  it('keyboard: j/k move and open, s flags, e deletes, ? shows help, / searches, c composes, Esc closes; focus is visible; Tab reaches every pane', async () => {
    const { page } = await openContext(browser);
    for (const n of [1, 2, 3]) await smtpSend(host, { from: 'dave@elsewhere.test', to: 'admin@example.com', subject: `Keyboard ${n}`, text: `Message ${n}` });
    await signIn(page, host, '/mail/inbox', adminToken);
    await row(page, 'Keyboard 3').waitFor({ timeout: 20_000 });
    const ids = await page.getByTestId('message-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
    const openedId = () => new URL(page.url()).pathname.split('/')[3] ?? null;

    await page.locator('body').click({ position: { x: 5, y: 400 } });
    await page.keyboard.press('j');
    await expect.poll(openedId).toBe(ids[0]);
    await page.getByRole('heading', { name: 'Keyboard 3' }).waitFor();
    await page.keyboard.press('j');
    await expect.poll(openedId).toBe(ids[1]);
    await page.keyboard.press('k');
    await expect.poll(openedId).toBe(ids[0]);
    await page.getByRole('heading', { name: 'Keyboard 3' }).waitFor();

    await page.keyboard.press('s');
    await expect.poll(async () => (await apiJson(host, `/mails/${ids[0]}`, { token: adminToken })).flagged).toBe(true);
    expect(await row(page, 'Keyboard 3').getByRole('button', { name: 'Unflag' }).count()).toBe(1);

    await page.keyboard.press('?');
    const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await help.waitFor();
    expect(await help.innerText()).toContain('Reply all');
    await screenshot(page, 'desktop-shortcuts');
    await page.keyboard.press('Escape');
    await help.waitFor({ state: 'detached' });

    await page.keyboard.press('/');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('search-input');
    await page.keyboard.press('Escape');
    await page.keyboard.press('c');
    await page.getByRole('heading', { name: 'New message' }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('combobox');
    await page.keyboard.press('Escape');
    await page.getByRole('heading', { name: 'New message' }).waitFor({ state: 'detached' });

    // e deletes the open message (to Trash) and opens the next one
    await page.locator('body').click({ position: { x: 5, y: 400 } });
    await page.keyboard.press('e');
    await row(page, 'Keyboard 3').waitFor({ state: 'detached' });
    await expect.poll(openedId).toBe(ids[1]);
    const trash = (await apiJson(host, '/mailboxes', { token: adminToken })).items.find((m: { specialUse: string }) => m.specialUse === 'trash');
    await expect.poll(async () => (await apiJson(host, `/mails/${ids[0]}`, { token: adminToken })).mailbox).toBe(trash.id);

    // Tab from the top reaches the search, compose, the folders, a message row and the reader's actions; the focus ring shows
    await page.goto(appUrl(host, `/mail/inbox/${ids[1]}`));
    await page.getByRole('heading', { name: 'Keyboard 2' }).waitFor();
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const info = await page.evaluate(() => {
        const el = document.activeElement as any;
        return { label: el.getAttribute('aria-label') || el.id || el.textContent?.trim().slice(0, 80) || el.tagName, tag: el.tagName, outline: getComputedStyle(el).outlineStyle };
      });
      if (info.tag === 'BODY') break; // past the last control
      seen.push(info.label);
      expect(info.outline, `focus ring on ${info.label}`).not.toBe('none');
    }
    const joined = seen.join(' | ');
    for (const want of ['Skip to content', 'search-input', 'Compose', 'Inbox', 'Keyboard 2', 'Reply', 'Delete', 'Download original']) expect(joined).toContain(want);
    // in this order: top bar, folders, the list, the reader
    const at = (want: string) => seen.findIndex((s) => s.includes(want));
    const order = ['search-input', 'Inbox', 'Keyboard 2', 'Reply'].map(at);
    expect(order.every((v, i) => v >= 0 && (i === 0 || v > order[i - 1])), `tab order: ${joined}`).toBe(true);
  });

  it('phone width: one pane at a time (list, reader, folders, compose), nothing wider than the screen', async () => {
    const { page } = await openContext(browser, { viewport: PHONE, isMobile: true });
    await signIn(page, host, '/mail/inbox', adminToken);
    await row(page, 'Lunch on Friday?').waitFor();
    const visible = (selector: string) => page.locator(selector).first().isVisible();
    expect([await visible('.list-pane'), await visible('.reader-pane'), await visible('#sidebar')]).toEqual([true, false, false]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await screenshot(page, 'phone-inbox');

    await row(page, 'Lunch on Friday?').getByRole('link').click();
    await page.getByRole('heading', { name: 'Lunch on Friday?' }).waitFor();
    expect([await visible('.list-pane'), await visible('.reader-pane')]).toEqual([false, true]);
    await screenshot(page, 'phone-reader');
    await page.getByRole('button', { name: 'Back to the list' }).first().click();
    await row(page, 'Lunch on Friday?').waitFor();
    expect([await visible('.list-pane'), await visible('.reader-pane')]).toEqual([true, false]);

    await page.getByRole('button', { name: 'Folders' }).click();
    await page.getByRole('navigation', { name: 'Folders' }).getByRole('link', { name: 'Sent' }).waitFor({ state: 'visible' });
    await screenshot(page, 'phone-folders');
    await page.getByRole('navigation', { name: 'Folders' }).getByRole('link', { name: 'Drafts' }).click();
    await page.getByRole('heading', { name: 'Drafts', exact: true }).waitFor();
    expect(await visible('#sidebar')).toBe(false);

    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByRole('heading', { name: 'New message' }).waitFor();
    expect([await visible('.list-pane'), await visible('.compose-pane')]).toEqual([false, true]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await screenshot(page, 'phone-compose');
    expect(await unnamedControls(page)).toEqual([]);
  });

  it('admin pages: users (create, alias, delete), domains, settings', async () => {
    const { page } = await openContext(browser);
    await signIn(page, host, '/admin/users', adminToken);
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.getByTestId('user-row').filter({ hasText: 'bob@example.com' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Carol Jones');
    await page.getByLabel('Email address', { exact: true }).fill('carol@example.com');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create user' }).click();
    const carol = page.getByTestId('user-row').filter({ hasText: 'carol@example.com' });
    await carol.waitFor();
    await carol.getByLabel('New alias for carol@example.com').fill('cj@example.com');
    await carol.getByRole('button', { name: 'Add alias' }).click();
    await carol.getByText('cj@example.com').waitFor();
    // a bad alias (foreign domain) says why
    await carol.getByLabel('New alias for carol@example.com').fill('cj@elsewhere.test');
    await carol.getByRole('button', { name: 'Add alias' }).click();
    await carol.getByRole('alert').filter({ hasText: 'not hosted' }).waitFor();
    const users = (await apiJson(host, '/users', { token: adminToken })).items;
    expect(users.find((u: { email: string }) => u.email === 'carol@example.com').aliases).toEqual(['cj@example.com']);
    await screenshot(page, 'desktop-users');
    await carol.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete carol@example.com?' }).getByRole('button', { name: 'Delete user' }).click();
    await carol.waitFor({ state: 'detached' });
    expect((await apiJson(host, '/users', { token: adminToken })).items.map((u: { email: string }) => u.email)).not.toContain('carol@example.com');

    // a password reset: Bob's sessions end, the new password works
    expect((await host.api('/auth/me', { token: bobToken })).status).toBe(200);
    await page.getByTestId('user-row').filter({ hasText: 'bob@example.com' }).getByRole('button', { name: 'Reset password' }).click();
    const reset = page.getByRole('dialog', { name: 'New password for bob@example.com' });
    await reset.getByLabel('New password').fill('a brand new password');
    await reset.getByRole('button', { name: 'Set password' }).click();
    await reset.waitFor({ state: 'detached' });
    await expect.poll(async () => (await host.api('/auth/me', { token: bobToken })).status).toBe(401);
    expect((await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'bob@example.com', password: 'a brand new password' }) })).status).toBe(200);

    await page.getByRole('navigation', { name: 'Folders' }).getByRole('link', { name: 'Domains' }).click();
    await page.getByRole('heading', { name: 'Domains' }).waitFor();
    if (hasDomains) {
      // the setup domain is listed; a new one shows the records to publish, each with copy buttons and its status
      await page.getByTestId('domain-card').filter({ hasText: 'example.com' }).waitFor();
      await page.getByLabel('Add a domain').fill('example.org');
      await page.getByRole('button', { name: 'Add domain' }).click();
      const card = page.getByTestId('domain-card').filter({ hasText: 'example.org' });
      await card.waitFor();
      const dismiss = page.getByRole('status').getByRole('button', { name: 'Dismiss' });
      while ((await dismiss.count()) > 0) await dismiss.first().click({ timeout: 2000 }).catch(() => undefined); // a toast may go by itself meanwhile
      await card.scrollIntoViewIfNeeded();
      await screenshot(page, 'desktop-domains');
      const api = (await apiJson(host, '/domains/example.org', { token: adminToken })) as { records: Array<{ purpose: string; host: string; value: string }> };
      const rows = card.getByTestId('record-row');
      expect(await rows.count()).toBe(api.records.length);
      expect(api.records.length).toBeGreaterThanOrEqual(3);
      for (const [i, record] of api.records.entries()) expect(await rows.nth(i).innerText()).toContain(record.value.slice(0, 40));
      expect(await card.getByRole('button', { name: /^Copy value of/ }).count()).toBe(api.records.length);
      // a copy button puts the exact value on the clipboard
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      await card.getByRole('button', { name: `Copy value of the ${api.records[0].purpose} record` }).click();
      expect(await page.evaluate(() => window.navigator.clipboard.readText())).toBe(api.records[0].value);
      // check now: the test host's DNS (a table with nothing in it) has none of the records
      await card.getByRole('button', { name: 'Check now' }).click();
      await expect.poll(async () => (await card.getByTestId('record-row').allInnerTexts()).every((t) => /missing|wrong|error/.test(t)), { timeout: 15_000 }).toBe(true);
      expect((await apiJson(host, '/domains/example.org', { token: adminToken })).lastCheckedAt).not.toBeNull();
      await card.getByRole('button', { name: 'Remove' }).click();
      await page.getByRole('dialog', { name: 'Remove example.org?' }).getByRole('button', { name: 'Remove domain' }).click();
      await card.waitFor({ state: 'detached' });
      expect((await host.api('/domains/example.org', { token: adminToken })).status).toBe(404);
    } else {
      await page.getByText('Domain management is not available on this server yet').waitFor();
      await screenshot(page, 'desktop-domains');
    }

    await page.goto(appUrl(host, '/settings'));
    await page.getByRole('heading', { name: 'Change password' }).waitFor();
    await screenshot(page, 'desktop-settings');
  });

  it('signing out ends the session on the server too, and the page asks to sign in', async () => {
    const token = (await apiJson(host, '/auth/login', { method: 'POST', body: JSON.stringify({ email: 'admin@example.com', password: PASSWORD }) })).token;
    const { page } = await openContext(browser);
    await signIn(page, host, '/mail/inbox', token);
    await page.getByRole('button', { name: /Account menu/ }).click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect((await host.api('/auth/me', { token })).status).toBe(401);
    expect(await page.evaluate(() => window.localStorage.getItem('nimbus.session'))).toBeNull();
  });
});
