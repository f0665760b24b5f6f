import nodemailer from 'nodemailer';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../core/auth';
import { routes } from '../functions/http/routes';
import { apiJson, appUrl, launchBrowser, openContext, screenshot, signIn } from './browser';
import { PASSWORD, startTestHost, waitFor, type TestHost } from './helpers';

// the callbacks given to page.evaluate run in Chromium; this project compiles without DOM types
declare const localStorage: any;

const hasSend = routes.some((r) => r.route === 'mails/{id}/send' && r.methods.includes('POST'));

async function draftsOf(host: TestHost, token = host.token): Promise<any[]> {
  const drafts = (await apiJson(host, '/mailboxes', { token })).items.find((m: { specialUse: string }) => m.specialUse === 'drafts');
  const items = (await apiJson(host, `/mails?mailbox=${drafts.id}`, { token })).items;
  return Promise.all(items.map((m: { id: string }) => apiJson(host, `/mails/${m.id}`, { token })));
}

/** Signs in, opens Compose and writes a message to a friend, until the draft is saved. */
async function writeDraft(page: Page, host: TestHost, subject: string, text: string): Promise<void> {
  await signIn(page, host);
  await page.getByRole('button', { name: 'Compose' }).click();
  await page.getByLabel('To').fill('friend@elsewhere.test');
  await page.getByLabel('Subject').fill(subject);
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByTestId('save-state').filter({ hasText: 'Draft saved' }).waitFor({ timeout: 15_000 });
}

/** The stored session's token stops being valid (as when it expires or is revoked); returns the spoilt token. */
function spoilToken(page: Page): Promise<string> {
  return page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('nimbus.session'));
    localStorage.setItem('nimbus.session', JSON.stringify({ ...s, token: `${s.token}x` }));
    return `${s.token}x`;
  });
}

interface HeldRequests {
  /** How many requests carrying the spoilt token were held. */
  held: () => number;
  /** Lets the spoilt token's other requests through: the folder poll's 401 then opens the "Sign in again" dialog. */
  expire: () => void;
  release: () => void;
}

/**
 * Spoils the session's token and holds every request to `url` by `method` that carries it until
 * `release`: its 401 then comes only after the user has signed in again. The spoilt token's other
 * requests (the folder poll) wait for `expire`, so that the test can act in the page first: once
 * their 401 has come, the app under the dialog is inert and takes no typing (a poll answered before
 * the test typed left the draft unchanged and no request to hold).
 */
async function holdSpoiltRequests(page: Page, context: BrowserContext, url: string, method: string): Promise<HeldRequests> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let expire!: () => void;
  const expired = new Promise<void>((resolve) => (expire = resolve));
  let held = 0;
  let spoilt = '';
  const carriesSpoilt = (route: Route) => spoilt !== '' && route.request().headers().authorization === `Bearer ${spoilt}`;
  // routes are tried last-registered first: this one sees what the one below falls back on
  await context.route('**/api/**', async (route) => {
    if (carriesSpoilt(route)) await expired;
    await route.fallback();
  });
  await context.route(url, async (route) => {
    if (route.request().method() !== method || !carriesSpoilt(route)) return route.fallback();
    held++;
    await released;
    await route.continue();
  });
  spoilt = await spoilToken(page);
  return {
    held: () => held,
    expire,
    release: () => {
      expire();
      release();
    },
  };
}

/** Lets the folder poll's 401 through; once the app asks for the password and a request is held, signs in again, then lets the held ones go. */
async function signInAgainThenRelease(page: Page, hold: HeldRequests): Promise<void> {
  hold.expire();
  const dialog = page.getByRole('dialog', { name: 'Sign in again' });
  await dialog.waitFor({ timeout: 15_000 });
  await waitFor(() => hold.held() || undefined);
  await dialog.getByLabel('Password').fill(PASSWORD);
  await dialog.getByRole('button', { name: 'Sign in' }).click();
  await dialog.waitFor({ state: 'detached' });
  hold.release();
}

/** A second user, Carol, created once per host; her session as the login answers it. */
const carols = new WeakMap<TestHost, Promise<any>>();
function carolSessionOf(host: TestHost): Promise<any> {
  let s = carols.get(host);
  if (!s) {
    s = (async () => {
      await host.app.store.createUser({ email: 'carol@example.com', name: 'Carol', passwordHash: await hashPassword('carols password'), role: 'user' });
      return apiJson(host, '/auth/login', { method: 'POST', body: JSON.stringify({ email: 'carol@example.com', password: 'carols password' }) });
    })();
    carols.set(host, s);
  }
  return s;
}

describe('webmail under faults: server down or slow, session lost, refused uploads and sends', () => {
  let host: TestHost;
  let browser: Browser;
  beforeAll(async () => {
    // small attachment limit so that a 413 is cheap to provoke
    host = await startTestHost({ NIMBUS_MAX_ATTACHMENT_BYTES: '4096' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await host?.destroy();
  });
  const carolSession = () => carolSessionOf(host);

  it('the API unreachable at start: a message and a retry, never a blank page', async () => {
    const { page, context } = await openContext(browser);
    await context.route('**/api/**', (route) => route.abort('connectionrefused'));
    await page.goto(appUrl(host, '/mail/inbox'));
    await page.getByRole('alert').filter({ hasText: 'Nimbus Mail is not available right now' }).waitFor();
    expect(await page.getByRole('alert').innerText()).toContain("Can't reach the server");
    await screenshot(page, 'desktop-server-down');
    await context.unroute('**/api/**');
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  it('the server stops mid-session: a banner with a retry; when it is back the app carries on, no reload', async () => {
    const { page } = await openContext(browser, { pollMs: 300 });
    await signIn(page, host);
    await page.getByRole('heading', { name: 'Inbox', exact: true }).waitFor();
    await page.evaluate(() => ((globalThis as { marker?: string }).marker = 'same page'));
    const { httpPort, smtpPort, dataDir } = host;
    await host.stop();
    try {
      // the shell's banner (an empty list whose load failed says so too, in an alert of its own)
      const banner = page.getByRole('alert').filter({ hasText: 'Retrying in the background' });
      await banner.waitFor({ timeout: 15_000 });
      expect(await page.getByRole('heading', { name: 'Inbox', exact: true }).isVisible()).toBe(true); // still the app
      await page.getByRole('button', { name: 'Retry now' }).click(); // still down: the banner stays
      await page.waitForTimeout(500);
      expect(await banner.isVisible()).toBe(true);
    } finally {
      // the same server back on the same ports and data
      const back = await startTestHost({ NIMBUS_HTTP_PORT: String(httpPort), NIMBUS_SMTP_PORT: String(smtpPort), NIMBUS_MAX_ATTACHMENT_BYTES: '4096' }, { dataDir });
      host = back;
    }
    // back: the next poll finds it and the banner goes
    await page.getByRole('alert').filter({ hasText: 'Retrying in the background' }).waitFor({ state: 'detached', timeout: 15_000 });
    await nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true }).sendMail({ from: 'back@elsewhere.test', to: 'admin@example.com', subject: 'After the outage', text: 'hello again' });
    await page.getByTestId('message-row').filter({ hasText: 'After the outage' }).waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (globalThis as { marker?: string }).marker)).toBe('same page');
  });

  it('the list\'s first page fails (server unreachable): it says so, and loads by itself once new mail shows the server is back', async () => {
    const { page, context } = await openContext(browser, { pollMs: 300 });
    await context.route('**/api/mails?*', (route) => route.abort('connectionrefused'));
    await signIn(page, host);
    await page.getByRole('alert').filter({ hasText: "Couldn't load the messages" }).waitFor({ timeout: 15_000 });
    await context.unroute('**/api/mails?*');
    await nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true }).sendMail({ from: 'late@elsewhere.test', to: 'admin@example.com', subject: 'The list came back', text: 'no click needed' });
    // no click on "Try again": the folder counts change, and the list loads its first page
    await page.getByTestId('message-row').filter({ hasText: 'The list came back' }).waitFor({ timeout: 20_000 });
    expect(await page.getByRole('alert').filter({ hasText: "Couldn't load the messages" }).count()).toBe(0);
  });

  it('a slow API: the list says it is loading, then shows the messages', async () => {
    await nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true }).sendMail({ from: 'slow@elsewhere.test', to: 'admin@example.com', subject: 'Worth the wait', text: 'slowly' });
    await waitFor(async () => (await apiJson(host, '/mails?q=wait', { token: host.token })).items?.length || undefined);
    const { page, context } = await openContext(browser);
    let delayed = 0;
    await context.route('**/api/mails?*', async (route) => {
      delayed++;
      await new Promise((r) => setTimeout(r, 2500));
      await route.continue();
    });
    await signIn(page, host);
    await page.getByRole('status').filter({ hasText: 'Loading messages…' }).waitFor();
    await page.getByTestId('message-row').filter({ hasText: 'Worth the wait' }).waitFor({ timeout: 20_000 });
    expect(delayed).toBeGreaterThan(0);
  });

  it('a 401 mid-session: sign in again over the app, and the draft being written is kept and then saved', async () => {
    const { page } = await openContext(browser);
    await writeDraft(page, host, 'Written across a lost session', 'First half.');
    // more text, not saved yet (autosave waits 1.5 s), and at once the token stops being valid (as when it
    // expires or is revoked): the next request (the folder poll or the autosave) gets a real 401
    await page.getByLabel('Message', { exact: true }).fill('First half. Second half.');
    await spoilToken(page);
    const dialog = page.getByRole('dialog', { name: 'Sign in again' });
    await dialog.waitFor({ timeout: 15_000 });
    await screenshot(page, 'desktop-session-expired');
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe('First half. Second half.');
    await dialog.getByLabel('Password').fill(PASSWORD);
    await dialog.getByRole('button', { name: 'Sign in' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe('First half. Second half.');
    await expect.poll(async () => (await draftsOf(host)).map((d) => d.draft.text), { timeout: 15_000 }).toContain('First half. Second half.');
    // and a reload brings the compose back from this browser's storage
    await page.reload();
    await page.getByRole('heading', { name: 'New message' }).waitFor();
    expect(await page.getByLabel('Subject').inputValue()).toBe('Written across a lost session');
    await page.keyboard.press('Escape');
  });

  it('an autosave sent with the lost session\'s token and answered 401 only after signing in again is saved again with the new one', async () => {
    const { page, context } = await openContext(browser, { pollMs: 300 });
    await writeDraft(page, host, 'Answered after signing in again', 'Before.');
    const hold = await holdSpoiltRequests(page, context, '**/api/mails/*', 'PUT');
    await page.getByLabel('Message', { exact: true }).fill('Before. After.');
    await signInAgainThenRelease(page, hold);
    await expect.poll(async () => (await draftsOf(host)).map((d) => d.draft.text), { timeout: 15_000 }).toContain('Before. After.');
    expect(hold.held()).toBe(1);
    await page.keyboard.press('Escape');
  });

  it('an upload sent with the lost session\'s token and answered 401 only after signing in again is sent again with the new one', async () => {
    const { page, context } = await openContext(browser, { pollMs: 300 });
    await writeDraft(page, host, 'Upload answered after signing in again', 'With a file.');
    const hold = await holdSpoiltRequests(page, context, '**/api/mails/*/attachments', 'POST');
    await page.getByTestId('attach-input').setInputFiles([{ name: 'late.txt', mimeType: 'text/plain', buffer: Buffer.from('sent twice') }]);
    await signInAgainThenRelease(page, hold);
    await page.getByRole('button', { name: 'Remove late.txt' }).waitFor({ timeout: 15_000 });
    const draft = await waitFor(async () => (await draftsOf(host)).find((d) => d.draft.subject === 'Upload answered after signing in again'));
    expect(draft.draftAttachments.map((a: { filename: string }) => a.filename)).toEqual(['late.txt']);
    expect(hold.held()).toBe(1);
    await page.keyboard.press('Escape');
  });

  it('a request answered 401 after another user signed in (in another tab) is not sent again with that user\'s token', async () => {
    const carol = await carolSession();
    const { page, context } = await openContext(browser, { pollMs: 300 });
    await writeDraft(page, host, 'Not for Carol', 'Mine.');
    let asCarol = 0;
    context.on('request', (r) => {
      if (r.headers().authorization === `Bearer ${carol.token}` && r.url().includes('/attachments')) asCarol++;
    });
    const hold = await holdSpoiltRequests(page, context, '**/api/mails/*/attachments', 'POST');
    await page.getByTestId('attach-input').setInputFiles([{ name: 'mine.txt', mimeType: 'text/plain', buffer: Buffer.from('not hers') }]);
    hold.expire();
    await waitFor(() => hold.held() || undefined);
    // another tab of this browser signs in as Carol: the stored session is hers now
    const other = await context.newPage();
    await other.goto(appUrl(host, '/favicon.svg'));
    await other.evaluate((s) => localStorage.setItem('nimbus.session', JSON.stringify(s)), carol);
    await page.getByText('Carol', { exact: true }).waitFor({ timeout: 15_000 }); // this tab follows: Carol's mail, no dialog
    expect(await page.getByRole('dialog', { name: 'Sign in again' }).count()).toBe(0);
    const refused = page.waitForResponse((r) => r.url().includes('/attachments') && r.status() === 401);
    hold.release();
    await refused;
    await page.waitForTimeout(1000); // a resend would follow the 401 at once
    expect(hold.held()).toBe(1);
    expect(asCarol).toBe(0);
    const mine = await waitFor(async () => (await draftsOf(host)).find((d) => d.draft.subject === 'Not for Carol'));
    expect(mine.draftAttachments).toEqual([]);
    expect(await draftsOf(host, carol.token)).toEqual([]);
    await context.close();
  });

  it('signing in as someone else over an expired session does not save the open message into their account', async () => {
    const carol = await carolSession();
    const { page } = await openContext(browser, { pollMs: 300 });
    await signIn(page, host);
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByLabel('Subject').fill('Written by the admin');
    await page.getByLabel('Message', { exact: true }).fill('Not for Carol to see.');
    await spoilToken(page); // before the first autosave: the message has no draft on the server yet
    const dialog = page.getByRole('dialog', { name: 'Sign in again' });
    await dialog.waitFor({ timeout: 15_000 });
    // nothing was saved before the token was spoilt, so the save after signing in would create the draft
    // (a save of an existing draft would name the admin's draft, which Carol's token cannot reach anyway)
    expect((await draftsOf(host)).map((d) => d.draft.subject)).not.toContain('Written by the admin');
    // someone else signing in reloads the app; held here, so the page that had the message open stays alive meanwhile
    let reload!: () => void;
    const reloaded = new Promise<void>((resolve) => (reload = resolve));
    await page.route('**/mail/inbox', async (route) => {
      if (route.request().isNavigationRequest()) await reloaded;
      await route.continue();
    });
    const navigating = page.waitForRequest((r) => r.isNavigationRequest() && r.url().endsWith('/mail/inbox'));
    await dialog.getByLabel('Email address').fill('carol@example.com');
    await dialog.getByLabel('Password').fill('carols password');
    // the click starts the reload held above: it must not wait for that navigation (it would time out)
    await dialog.getByRole('button', { name: 'Sign in' }).click({ noWaitAfter: true });
    await navigating;
    await page.waitForTimeout(1000); // the save that signing in again starts would have gone out at once
    expect(await draftsOf(host, carol.token)).toEqual([]);
    reload();
    await page.getByText('Carol', { exact: true }).waitFor({ timeout: 15_000 });
    await page.unroute('**/mail/inbox');
    // the message is still in this browser for the admin, who gets it back on signing in
    await signIn(page, host);
    await page.getByRole('heading', { name: 'New message' }).waitFor({ timeout: 15_000 });
    expect(await page.getByLabel('Subject').inputValue()).toBe('Written by the admin');
    await page.keyboard.press('Escape');
  });

  it('in the moment before this tab hears that another user signed in (in another tab), its requests are refused, not sent with that user\'s token', async () => {
    const carol = await carolSession();
    const { page, context } = await openContext(browser, { pollMs: 300 });
    await signIn(page, host);
    await page.getByRole('button', { name: 'Compose' }).click();
    let asCarol = 0;
    context.on('request', (r) => {
      if (r.headers().authorization === `Bearer ${carol.token}`) asCarol++;
    });
    // Carol's session is stored, as another tab's sign-in stores it; a tab hears of it by a storage event,
    // which the page that stores it does not get: this tab stays in that moment until the session is put back
    const setStored = (s: unknown) => page.evaluate((v) => localStorage.setItem('nimbus.session', JSON.stringify(v)), s);
    const admin = await page.evaluate(() => JSON.parse(localStorage.getItem('nimbus.session')));
    await setStored(carol);
    // the first autosave (which would create the draft) and the folder poll come in that moment
    await page.getByLabel('Subject').fill('Started before Carol signed in');
    await page.getByLabel('Message', { exact: true }).fill('Not for Carol to see.');
    await page.getByTestId('save-state').filter({ hasText: /Not saved|Draft saved/ }).waitFor({ timeout: 15_000 });
    expect(await draftsOf(host, carol.token)).toEqual([]);
    await page.getByText("Couldn't save the draft: Signed in as someone else.").waitFor();
    // the admin's session back: the draft is saved in the admin's account
    await setStored(admin);
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByTestId('save-state').filter({ hasText: 'Draft saved' }).waitFor({ timeout: 15_000 });
    // Carol's again: an upload to that draft (its own request) comes in that moment
    await setStored(carol);
    await page.getByTestId('attach-input').setInputFiles([{ name: 'mine.txt', mimeType: 'text/plain', buffer: Buffer.from('not hers') }]);
    await page.getByText('Not attached: Signed in as someone else.').waitFor({ timeout: 15_000 });
    await page.waitForTimeout(1000); // the folder poll runs every 300 ms
    expect(asCarol).toBe(0);
    expect(await draftsOf(host, carol.token)).toEqual([]);
    const mine = (await draftsOf(host)).find((d) => d.draft.subject === 'Started before Carol signed in');
    expect(mine.draftAttachments).toEqual([]);
    // a reload starts the app for the stored session: Carol's
    await page.reload();
    await page.getByText('Carol', { exact: true }).waitFor({ timeout: 15_000 });
    expect(asCarol).toBeGreaterThan(0);
    await context.close();
  });

  it('another user signing in (in another tab) while the app starts: it starts again for them, instead of showing the first user and refusing everything', async () => {
    const carol = await carolSession();
    const { page, context } = await openContext(browser);
    // the start-up's "who am I" is held until another tab has signed in as Carol
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = 0;
    await page.route('**/api/auth/me', async (route) => {
      if (held++ === 0) await released;
      await route.continue();
    });
    await signIn(page, host);
    await waitFor(() => held || undefined);
    const other = await context.newPage();
    await other.goto(appUrl(host, '/favicon.svg'));
    await other.evaluate((s) => localStorage.setItem('nimbus.session', JSON.stringify(s)), carol);
    release(); // answered for the admin, whose token it carried
    await page.getByText('Carol', { exact: true }).waitFor({ timeout: 15_000 });
    expect(held).toBeGreaterThan(1);
    await page.getByRole('heading', { name: 'Inbox' }).waitFor();
    expect(await page.getByText('Signed in as someone else.').count()).toBe(0);
    await context.close();
  });

  it('a draft changed elsewhere meanwhile (412 on If-Match): said so, nothing overwritten until the user keeps this version', async () => {
    const { page } = await openContext(browser);
    await signIn(page, host);
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByLabel('Subject').fill('Edited in two places');
    await page.getByLabel('Message', { exact: true }).fill('Version from this window.');
    const draft = await waitFor(async () => (await draftsOf(host)).find((d) => d.draft.text === 'Version from this window.'));
    // another window (here: the API) saves the same draft
    const other = await host.api(`/mails/${draft.id}`, { method: 'PUT', token: host.token, body: JSON.stringify({ subject: 'Edited in two places', text: 'Version from the other window.' }) });
    expect(other.status).toBe(200);
    await page.getByLabel('Message', { exact: true }).fill('Version from this window, edited.');
    await page.getByRole('alert').filter({ hasText: 'This draft was changed in another window.' }).waitFor({ timeout: 15_000 });
    expect((await apiJson(host, `/mails/${draft.id}`, { token: host.token })).draft.text).toBe('Version from the other window.');
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe('Version from this window, edited.');
    await page.getByRole('button', { name: 'Keep my version' }).click();
    await expect.poll(async () => (await apiJson(host, `/mails/${draft.id}`, { token: host.token })).draft.text, { timeout: 15_000 }).toBe('Version from this window, edited.');
    await page.keyboard.press('Escape');
  });

  it('a 413 on an attachment: the error is shown beside the file, the other files and the draft are kept', async () => {
    const { page } = await openContext(browser);
    await signIn(page, host);
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByLabel('To').fill('friend@elsewhere.test');
    await page.getByLabel('Subject').fill('Files, one too big');
    await page.getByLabel('Message', { exact: true }).fill('Two files attached.');
    await page.getByTestId('attach-input').setInputFiles([
      { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(8192, 1) },
      { name: 'small.txt', mimeType: 'text/plain', buffer: Buffer.from('small') },
    ]);
    const failed = page.getByRole('alert').filter({ hasText: 'big.bin' });
    await failed.waitFor({ timeout: 15_000 });
    expect(await failed.innerText()).toMatch(/Not attached: too large/);
    await page.getByRole('button', { name: 'Remove small.txt' }).waitFor({ timeout: 15_000 });
    await screenshot(page, 'desktop-upload-too-large');
    expect(await page.getByLabel('Subject').inputValue()).toBe('Files, one too big');
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe('Two files attached.');
    const draft = await waitFor(async () => (await draftsOf(host)).find((d) => d.draft.subject === 'Files, one too big'));
    expect(draft.draftAttachments.map((a: { filename: string }) => a.filename)).toEqual(['small.txt']);
    expect(draft.draft.text).toBe('Two files attached.');
  });

  it('a send that fails: the error is shown, the message stays open and in Drafts', async () => {
    const { page, context } = await openContext(browser);
    // the send route answers a temporary failure (as when the queue is down)
    await context.route('**/api/mails/*/send', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'Temporary local problem, please try again later', code: 'TemporaryFailure' }) }));
    await signIn(page, host);
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByLabel('To').fill('friend@elsewhere.test');
    await page.getByLabel('Subject').fill('Will not go out');
    await page.getByLabel('Message', { exact: true }).fill('Body kept.');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Not sent' }).waitFor();
    expect(await page.getByLabel('Message', { exact: true }).inputValue()).toBe('Body kept.');
    const draft = await waitFor(async () => (await draftsOf(host)).find((d) => d.draft.subject === 'Will not go out'));
    expect(draft.draft.text).toBe('Body kept.');
  });

  it('a server without the send route (an older one): no Send button, an honest note, the message is kept in Drafts', async () => {
    expect(hasSend).toBe(true); // this server sends: the older one is played by hiding the route from its OpenAPI document
    const { page, context } = await openContext(browser);
    await context.route('**/api/openapi.json', async (route) => {
      const doc = await (await route.fetch()).json();
      delete doc.paths['/api/mails/{id}/send'];
      await route.fulfill({ json: doc });
    });
    await signIn(page, host);
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByText('Sending is not available on this server yet.').waitFor();
    expect(await page.getByRole('button', { name: 'Send', exact: true }).count()).toBe(0);
    await page.getByLabel('Subject').fill('Kept for later');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await waitFor(async () => (await draftsOf(host)).find((d) => d.draft.subject === 'Kept for later'));
  });
});

describe('webmail first run from another machine', () => {
  it('asks for the setup code the server printed, refuses a wrong one, and sets up with the right one', async () => {
    const host = await startTestHost({}, { setup: false });
    const browser = await launchBrowser();
    try {
      const { page, context } = await openContext(browser);
      // as if through a proxy, or from elsewhere: setup is not open to this browser without the code
      await context.setExtraHTTPHeaders({ 'x-forwarded-for': '203.0.113.9' });
      await page.goto(appUrl(host, '/'));
      await page.getByRole('heading', { name: 'Set up your mail server' }).waitFor();
      await page.getByLabel('Your domain').fill('example.com');
      await page.getByLabel('Your name').fill('Remote Admin');
      await page.getByLabel('Password (at least 8 characters)').fill(PASSWORD);
      await page.getByLabel('Password again').fill(PASSWORD);
      await page.getByLabel('Setup code').fill('wrong-code');
      await page.getByRole('button', { name: 'Create and sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'needs its setup code' }).waitFor();
      expect(await apiJson(host, '/setup')).toMatchObject({ needed: true });
      await page.getByLabel('Setup code').fill(host.app.setup.code!);
      await page.getByRole('button', { name: 'Create and sign in' }).click();
      await page.getByRole('heading', { name: 'Inbox', exact: true }).waitFor();
      expect(await apiJson(host, '/setup')).toEqual({ needed: false, codeNeeded: false });
    } finally {
      await browser.close();
      await host.destroy();
    }
  });
});
