import nodemailer from 'nodemailer';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedMailbox } from '../bench/seed';
import { apiJson, launchBrowser, openContext, signIn } from './browser';
import { startTestHost, waitFor, type TestHost } from './helpers';

// the callbacks given to page.evaluate run in Chromium; this project compiles without DOM types
declare const document: any;

const SEEDED = 3000;
const rows = (page: Page) => page.getByTestId('message-row');
const row = (page: Page, text: string) => rows(page).filter({ hasText: text });

describe('webmail message list in Chromium: a big folder, bulk actions, drag and drop, folders', () => {
  let host: TestHost;
  let browser: Browser;
  let user: { id: string };
  let inboxId = '';
  let archiveId = '';

  beforeAll(async () => {
    host = await startTestHost();
    browser = await launchBrowser();
    user = await apiJson(host, '/auth/me', { token: host.token });
    const boxes = (await apiJson(host, '/mailboxes', { token: host.token })).items;
    inboxId = boxes.find((m: { specialUse: string }) => m.specialUse === 'inbox').id;
    // a folder of a few thousand messages, filed straight through the store (subjects "... #i", #0 the oldest)
    archiveId = (await apiJson(host, '/mailboxes', { method: 'POST', token: host.token, body: JSON.stringify({ name: 'Archive' }) })).id;
    await seedMailbox(host.app.store, user.id, archiveId, SEEDED);
  });
  afterAll(async () => {
    await browser?.close();
    await host?.destroy();
  });

  it('a folder of thousands: only the rows in view are in the page, the scrollbar spans the folder, pages come with the cursor as it scrolls', async () => {
    const { page } = await openContext(browser);
    const listRequests: URL[] = [];
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/api/mails' && r.method() === 'GET') listRequests.push(url);
    });
    await signIn(page, host, `/mail/${archiveId}`);
    await row(page, `#${SEEDED - 1}`).waitFor();
    expect(await page.getByText(`${SEEDED.toLocaleString('en-US')} messages`).count()).toBe(1);
    expect(await rows(page).count()).toBeLessThan(40);
    const scroller = page.getByTestId('message-list-scroll');
    const height = await scroller.evaluate((el: any) => el.scrollHeight);
    expect(height).toBeGreaterThan(SEEDED * 60); // every message has its place
    expect(listRequests.length).toBe(1);
    expect(listRequests[0].searchParams.get('cursor')).toBeNull();

    // to the very end: pages are fetched one after the other with the cursor, and the oldest message shows
    await scroller.evaluate((el: any) => (el.scrollTop = el.scrollHeight));
    await row(page, ' #0').waitFor({ timeout: 60_000 });
    expect(await rows(page).count()).toBeLessThan(40);
    const paged = listRequests.slice(1);
    expect(paged.length).toBeGreaterThan(1);
    expect(paged.every((u) => u.searchParams.get('cursor') && Number(u.searchParams.get('limit')) <= 200)).toBe(true);
    expect(new Set(paged.map((u) => u.searchParams.get('cursor'))).size).toBe(paged.length); // never the same page twice

    // and back to the top without fetching again
    const before = listRequests.length;
    await scroller.evaluate((el: any) => (el.scrollTop = 0));
    await row(page, `#${SEEDED - 1}`).waitFor();
    expect(listRequests.length).toBe(before);
  });

  it('bulk: select a range, mark read, flag, move with the menu; drag to a folder; create, rename, delete folders', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
    for (const n of [1, 2, 3, 4]) await transport.sendMail({ from: 'eve@elsewhere.test', to: 'admin@example.com', subject: `Bulk ${n}`, text: `bulk ${n}` });
    await waitFor(async () => ((await apiJson(host, '/mails', { token: host.token })).items.length === 4 ? true : undefined));
    const { page } = await openContext(browser);
    await signIn(page, host, '/mail/inbox');
    await row(page, 'Bulk 1').waitFor();

    // a new folder from the sidebar
    await page.getByRole('button', { name: '+ New folder' }).click();
    await page.getByLabel('New folder name').fill('Projects');
    await page.getByLabel('New folder name').press('Enter');
    const projects = page.getByRole('navigation', { name: 'Folders' }).getByRole('link', { name: 'Projects' });
    await projects.waitFor();

    // shift-click selects a range: Bulk 4..Bulk 2
    await row(page, 'Bulk 4').getByRole('checkbox').click();
    await row(page, 'Bulk 2').getByRole('checkbox').click({ modifiers: ['Shift'] });
    await page.getByText('3 selected').waitFor();
    await page.getByRole('toolbar', { name: 'Selected messages' }).getByRole('button', { name: 'Mark read' }).click();
    await expect.poll(async () => (await apiJson(host, '/mails?unread=true', { token: host.token })).items.map((m: { subject: string }) => m.subject)).toEqual(['Bulk 1']);
    await page.getByRole('toolbar', { name: 'Selected messages' }).getByRole('button', { name: 'Flag' }).click();
    await expect.poll(async () => (await apiJson(host, '/mails?flagged=true', { token: host.token })).items.length).toBe(3);

    // move two with the menu
    await row(page, 'Bulk 3').getByRole('checkbox').click(); // leaves Bulk 4 and Bulk 2
    await page.getByRole('toolbar', { name: 'Selected messages' }).getByRole('combobox', { name: 'Move to folder' }).selectOption({ label: 'Projects' });
    await row(page, 'Bulk 4').waitFor({ state: 'detached' });
    await row(page, 'Bulk 2').waitFor({ state: 'detached' });
    const projectsId = (await apiJson(host, '/mailboxes', { token: host.token })).items.find((m: { name: string }) => m.name === 'Projects').id;
    await expect.poll(async () => (await apiJson(host, `/mails?mailbox=${projectsId}`, { token: host.token })).items.map((m: { subject: string }) => m.subject).sort()).toEqual(['Bulk 2', 'Bulk 4']);

    // drag one onto the folder
    await row(page, 'Bulk 3').dragTo(page.getByTestId('folder-Projects'));
    await row(page, 'Bulk 3').waitFor({ state: 'detached' });
    await expect.poll(async () => (await apiJson(host, `/mails?mailbox=${projectsId}`, { token: host.token })).items.length).toBe(3);
    await page.getByText(/moved to Projects/).first().waitFor();

    // rename it, then delete it (its messages go to Trash)
    await page.getByRole('button', { name: 'Rename folder Projects' }).click();
    await page.getByLabel('New name for Projects').fill('Old projects');
    await page.getByLabel('New name for Projects').press('Enter');
    await page.getByRole('navigation', { name: 'Folders' }).getByRole('link', { name: 'Old projects' }).waitFor();
    await page.getByRole('button', { name: 'Delete folder Old projects' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete folder “Old projects”?' });
    expect(await confirm.innerText()).toContain('3 messages will be moved to Trash');
    await confirm.getByRole('button', { name: 'Delete folder' }).click();
    await page.getByRole('navigation', { name: 'Folders' }).getByRole('link', { name: 'Old projects' }).waitFor({ state: 'detached' });
    const trash = (await apiJson(host, '/mailboxes', { token: host.token })).items.find((m: { specialUse: string }) => m.specialUse === 'trash');
    expect(trash.total).toBe(3);
    expect((await apiJson(host, '/mailboxes', { token: host.token })).items.map((m: { name: string }) => m.name)).not.toContain('Old projects');
    expect(inboxId).not.toBe('');
  });

  it('delete, then undo from the message that says so', async () => {
    const { page } = await openContext(browser);
    await signIn(page, host, '/mail/inbox');
    await row(page, 'Bulk 1').waitFor();
    await row(page, 'Bulk 1').getByRole('checkbox').click();
    await page.getByRole('toolbar', { name: 'Selected messages' }).getByRole('button', { name: 'Delete' }).click();
    await row(page, 'Bulk 1').waitFor({ state: 'detached' });
    await page.getByRole('status').getByRole('button', { name: 'Undo' }).click();
    await row(page, 'Bulk 1').waitFor();
    expect((await apiJson(host, '/mails', { token: host.token })).items.map((m: { subject: string }) => m.subject)).toContain('Bulk 1');
    expect(await page.evaluate(() => document.title)).toMatch(/Inbox – Nimbus Mail$/);
  });

  it('the reader shows the authentication results a message carries, as badges', async () => {
    // filed as the inbound worker does, with results (the checks themselves come with the domains issue)
    const raw = Buffer.from('From: Bank <statements@bank.test>\r\nTo: admin@example.com\r\nSubject: Your statement\r\nMessage-ID: <s1@bank.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nYour statement is ready.\r\n');
    await host.app.blobs.put('raw/auth-badges.eml', raw);
    const [stored] = await host.app.store.fileMessages([
      {
        userId: user.id,
        mailboxId: inboxId,
        inboundId: 'auth-badges',
        rawBlobKey: 'raw/auth-badges.eml',
        size: raw.length,
        receivedAt: Date.now(),
        summary: { from: { address: 'statements@bank.test', name: 'Bank' }, to: [{ address: 'admin@example.com', name: '' }], cc: [], subject: 'Your statement', date: Date.now(), messageId: '<s1@bank.test>', attachments: [], snippet: 'Your statement is ready.' },
        auth: { spf: 'pass', dkim: 'fail', dmarc: 'none', arc: 'none' },
      },
    ]);
    const { page } = await openContext(browser);
    await signIn(page, host, `/mail/inbox/${stored.id}`);
    const badges = page.getByRole('list', { name: 'Sender authentication' });
    await badges.waitFor();
    expect(await badges.getByRole('listitem').allInnerTexts()).toEqual(['SPF pass', 'DKIM fail', 'DMARC none', 'ARC none']);
    expect(await badges.getByRole('listitem').evaluateAll((items: any[]) => items.map((i) => i.className))).toEqual(['badge pass', 'badge fail', 'badge other', 'badge other']);
    // a message filed without results shows none
    await host.app.blobs.put('raw/no-auth.eml', raw);
    const [plain] = await host.app.store.fileMessages([{ userId: user.id, mailboxId: inboxId, inboundId: 'no-auth', rawBlobKey: 'raw/no-auth.eml', size: raw.length, receivedAt: Date.now(), summary: { from: { address: 'statements@bank.test', name: 'Bank' }, to: [], cc: [], subject: 'Your statement', date: Date.now(), messageId: '<s1@bank.test>', attachments: [], snippet: '' }, auth: null }]);
    await page.goto(page.url().replace(stored.id, plain.id));
    await page.getByRole('heading', { name: 'Your statement' }).waitFor();
    expect(await page.getByRole('list', { name: 'Sender authentication' }).count()).toBe(0);
  });
});
