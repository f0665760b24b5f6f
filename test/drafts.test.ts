import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listInbox, startTestHost, waitFor, type TestHost } from './helpers';
import nodemailer from 'nodemailer';

/** Drafts and their attachments over real HTTP: compose, update, upload (limits, hostile names), remove, delete. */
describe('drafts', () => {
  let host: TestHost;
  let bob: string;
  const blobCount = () => (host.db.db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n;
  const call = (path: string, method: string, body?: unknown, token = host.token) => host.api(path, { method, token, body: body === undefined ? undefined : JSON.stringify(body) });
  const upload = (id: string, files: Array<[string, string | Buffer]>, token = host.token, headers: Record<string, string> = {}) => {
    const form = new FormData();
    for (const [name, content] of files) form.append('file', new Blob([content]), name);
    return fetch(`http://127.0.0.1:${host.httpPort}/api/mails/${id}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...headers }, body: form });
  };
  /** Blobs no record refers to: a save that lost a race must not leave its files or bytes behind. */
  const unreferencedBlobs = async () => {
    const keys = (host.db.db.prepare('SELECT key FROM blobs').all() as Array<{ key: string }>).map((r) => r.key);
    const referenced = await host.app.store.referencedBlobKeys(keys);
    return keys.filter((k) => !referenced.has(k));
  };
  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(((await res.json()) as { code: string }).code).toBe(code);
  };

  beforeAll(async () => {
    host = await startTestHost({ NIMBUS_MAX_ATTACHMENT_BYTES: '2000', NIMBUS_MAX_MESSAGE_BYTES: '8000' });
    await call('/auth/register', 'POST', { email: 'bob@example.com', password: 'bobs password', name: 'Bob' });
    const res = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'bob@example.com', password: 'bobs password' }) });
    bob = ((await res.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await host.destroy();
  });

  it('create: composed from the user, kept in Drafts with Bcc; validated', async () => {
    const res = await call('/mails', 'POST', { to: ['ann@elsewhere.test', { address: 'ben@elsewhere.test', name: 'Ben' }], bcc: ['secret@elsewhere.test'], subject: 'Plan', text: 'Draft text' });
    expect(res.status).toBe(201);
    const draft = (await res.json()) as any;
    expect(draft).toMatchObject({ subject: 'Plan', seen: true, draft: { subject: 'Plan', text: 'Draft text', html: null }, attachments: [] });
    const drafts = ((await (await host.api('/mailboxes', { token: host.token })).json()) as any).items.find((m: any) => m.specialUse === 'drafts');
    expect(draft.mailbox).toBe(drafts.id);
    expect(drafts.total).toBe(1);
    const raw = await (await host.api(`/mails/${draft.id}/raw`, { token: host.token })).text();
    expect(raw).toMatch(/^From: Admin <admin@example\.com>\r$/m);
    expect(raw).toMatch(/^Bcc: secret@elsewhere\.test\r$/m);
    const full = (await (await host.api(`/mails/${draft.id}`, { token: host.token })).json()) as any;
    expect(full.to).toEqual([{ address: 'ann@elsewhere.test', name: '' }, { address: 'ben@elsewhere.test', name: 'Ben' }]);
    await expectError(await call('/mails', 'POST', { to: ['not an address'] }), 400, 'ValidationFailed');
    await expectError(await call('/mails', 'POST', { subject: 42 }), 400, 'ValidationFailed');
    await expectError(await host.api('/mails', { method: 'POST', token: host.token, body: '{"to":' }), 400, 'MalformedJson');
  });

  it('update: fields replaced, old bytes removed; only drafts, only one\'s own', async () => {
    const { id } = (await (await call('/mails', 'POST', { subject: 'v1' })).json()) as { id: string };
    const blobs = blobCount();
    const res = await call(`/mails/${id}`, 'PUT', { subject: 'v2', text: 'second', html: '<p>second</p>' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id, subject: 'v2', draft: { subject: 'v2', html: '<p>second</p>' } });
    expect(blobCount()).toBe(blobs);
    expect(((await (await host.api(`/mails/${id}`, { token: host.token })).json()) as any).html).toBe('<p>second</p>');
    await expectError(await call(`/mails/${id}`, 'PUT', { subject: 'mine now' }, bob), 404, 'NotFound');
    await nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true }).sendMail({ from: 'x@sender.test', to: 'admin@example.com', subject: 'inbound', text: 'x' });
    const inbound = await waitFor(async () => (await listInbox(host)).find((m) => m.subject === 'inbound'));
    await expectError(await call(`/mails/${inbound.id}`, 'PUT', { subject: 'not a draft' }), 404, 'NotFound');
  });

  it('upload: files attached and served back; hostile names stored as data and served safely', async () => {
    const { id } = (await (await call('/mails', 'POST', { subject: 'with files' })).json()) as { id: string };
    const res = await upload(id, [
      ['../../etc/passwd', 'root:x:0:0'],
      ['evil\r\nX-Injected: 1.txt', 'hello'],
    ]);
    expect(res.status).toBe(201);
    const draft = (await res.json()) as { attachments: Array<{ id: string; filename: string; size: number }> };
    expect(draft.attachments.map((a) => [a.filename.replace(/[\r\n]/g, '?'), a.size])).toEqual([
      ['../../etc/passwd', 10],
      [expect.stringContaining('evil'), 5],
    ]);
    const full = (await (await host.api(`/mails/${id}`, { token: host.token })).json()) as { attachments: Array<{ id: string }> };
    expect(full.attachments).toHaveLength(2);
    for (const [i, a] of full.attachments.entries()) {
      const file = await host.api(`/mails/${id}/attachments/${a.id}`, { token: host.token });
      expect(file.status).toBe(200);
      const disposition = file.headers.get('content-disposition')!;
      expect(disposition).not.toMatch(/[\r\n]|\.\.|\//);
      expect(file.headers.get('x-injected')).toBeNull();
      expect(await file.text()).toBe(i === 0 ? 'root:x:0:0' : 'hello');
    }
    expect((await host.api(`/mails/${id}/attachments/${full.attachments[0].id}`, { token: host.token })).headers.get('content-disposition')).toContain('filename="passwd"');
  });

  it('upload limits: over the per-file or per-draft limit is 413 and nothing is stored; bad forms are 400; others 404', async () => {
    const { id } = (await (await call('/mails', 'POST', { subject: 'limits' })).json()) as { id: string };
    const blobs = blobCount();
    await expectError(await upload(id, [['ok.txt', 'small'], ['big.bin', Buffer.alloc(2001)]]), 413, 'PayloadTooLarge');
    expect(blobCount()).toBe(blobs);
    expect((await upload(id, [['a.bin', Buffer.alloc(1900)], ['b.bin', Buffer.alloc(1900)], ['c.bin', Buffer.alloc(1900)]])).status).toBe(201);
    await expectError(await upload(id, [['d.bin', Buffer.alloc(1000)]]), 413, 'PayloadTooLarge'); // 6700 > 3/4 of 8000
    const whole = await fetch(`http://127.0.0.1:${host.httpPort}/api/mails/${id}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${host.token}`, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(9000 + 1024 * 1024) });
    await expectError(whole, 413, 'PayloadTooLarge');
    await expectError(await host.api(`/mails/${id}/attachments`, { method: 'POST', token: host.token, body: '{}' }), 400, 'ValidationFailed');
    const noFile = new FormData();
    noFile.append('note', 'no file here');
    await expectError(await fetch(`http://127.0.0.1:${host.httpPort}/api/mails/${id}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${host.token}` }, body: noFile }), 400, 'ValidationFailed');
    await expectError(await upload(id, [['x.txt', 'x']], bob), 404, 'NotFound');
    const draft = (await (await host.api(`/mails/${id}`, { token: host.token })).json()) as { attachments: unknown[] };
    expect(draft.attachments).toHaveLength(3);
  });

  it('remove a file, then delete the draft for good: every blob it had is gone', async () => {
    const blobs = blobCount();
    const { id } = (await (await call('/mails', 'POST', { subject: 'to remove' })).json()) as { id: string };
    const withFiles = (await (await upload(id, [['one.txt', '1'], ['two.txt', '2']])).json()) as { attachments: Array<{ id: string }> };
    await expectError(await call(`/mails/${id}/attachments/nope`, 'DELETE'), 404, 'NotFound');
    await expectError(await call(`/mails/${id}/attachments/${withFiles.attachments[0].id}`, 'DELETE', undefined, bob), 404, 'NotFound');
    const after = (await (await call(`/mails/${id}/attachments/${withFiles.attachments[0].id}`, 'DELETE')).json()) as { attachments: Array<{ filename: string }> };
    expect(after.attachments.map((a) => a.filename)).toEqual(['two.txt']);
    await call(`/mails/${id}`, 'DELETE'); // to Trash
    await call(`/mails/${id}`, 'DELETE'); // for good
    expect(blobCount()).toBe(blobs);
  });

  describe('versions: ETag and If-Match', () => {
    const put = (id: string, body: unknown, headers: Record<string, string> = {}) => host.api(`/mails/${id}`, { method: 'PUT', token: host.token, body: JSON.stringify(body), headers });

    it('every draft read and write answers its version as an ETag; If-Match with it saves, with an older one is 412 and changes nothing', async () => {
      const created = await call('/mails', 'POST', { subject: 'etag v1' });
      expect(created.headers.get('etag')).toBe('"v1"');
      const { id } = (await created.json()) as { id: string };
      const read = await host.api(`/mails/${id}`, { token: host.token });
      expect(read.headers.get('etag')).toBe('"v1"');
      expect(await read.json()).toMatchObject({ draft: { subject: 'etag v1' }, draftAttachments: [] });
      const second = await put(id, { subject: 'etag v2' }, { 'if-match': '"v1"' });
      expect([second.status, second.headers.get('etag')]).toEqual([200, '"v2"']);
      const stale = await put(id, { subject: 'lost' }, { 'if-match': '"v1"' });
      expect(stale.status).toBe(412);
      expect(await stale.json()).toMatchObject({ code: 'PreconditionFailed', etag: '"v2"' });
      expect((await upload(id, [['late.txt', 'x']], host.token, { 'if-match': '"v1"' })).status).toBe(412);
      expect((await put(id, { subject: 'weak' }, { 'if-match': 'W/"v2"' })).status).toBe(412); // a weak tag never matches
      const uploaded = await upload(id, [['one.txt', '1']], host.token, { 'if-match': '"v0", "v2"' });
      expect([uploaded.status, uploaded.headers.get('etag')]).toEqual([201, '"v3"']);
      const file = ((await uploaded.json()) as { attachments: Array<{ id: string }> }).attachments[0];
      expect((await host.api(`/mails/${id}/attachments/${file.id}`, { method: 'DELETE', token: host.token, headers: { 'if-match': '"v2"' } })).status).toBe(412);
      const removed = await host.api(`/mails/${id}/attachments/${file.id}`, { method: 'DELETE', token: host.token, headers: { 'if-match': '*' } });
      expect([removed.status, removed.headers.get('etag')]).toEqual([200, '"v4"']);
      const now = await host.api(`/mails/${id}`, { token: host.token });
      expect(now.headers.get('etag')).toBe('"v4"');
      expect(await now.json()).toMatchObject({ subject: 'etag v2', draftAttachments: [] });
      expect(await unreferencedBlobs()).toEqual([]);
      // a message that is not a draft has no ETag
      const inbox = await listInbox(host);
      expect((await host.api(`/mails/${inbox[0].id}`, { token: host.token })).headers.get('etag')).toBeNull();
    });

    it('two concurrent saves from the same ETag: one succeeds, the other is 412, and nothing of it is left behind', async () => {
      for (const [first, second] of [
        [(id: string) => upload(id, [['a.txt', 'a']], host.token, { 'if-match': '"v1"' }), (id: string) => put(id, { subject: 'by put' }, { 'if-match': '"v1"' })],
        [(id: string) => upload(id, [['b.txt', 'b']], host.token, { 'if-match': '"v1"' }), (id: string) => upload(id, [['c.txt', 'c']], host.token, { 'if-match': '"v1"' })],
        [(id: string) => put(id, { subject: 'one' }, { 'if-match': '"v1"' }), (id: string) => put(id, { subject: 'two' }, { 'if-match': '"v1"' })],
      ]) {
        const { id } = (await (await call('/mails', 'POST', { subject: 'race' })).json()) as { id: string };
        const results = await Promise.all([first(id), second(id)]);
        const statuses = results.map((r) => r.status).sort();
        expect(statuses.filter((s) => s === 412)).toHaveLength(1);
        expect(statuses.filter((s) => s === 200 || s === 201)).toHaveLength(1);
        const loser = results.find((r) => r.status === 412)!;
        expect(await loser.json()).toMatchObject({ code: 'PreconditionFailed' });
        const winner = results.find((r) => r.status !== 412)!;
        const final = await host.api(`/mails/${id}`, { token: host.token });
        expect(final.headers.get('etag')).toBe('"v2"');
        expect(((await final.json()) as { draftAttachments: unknown[] }).draftAttachments).toEqual(((await winner.json()) as { attachments: unknown[] }).attachments);
      }
      expect(await unreferencedBlobs()).toEqual([]);
    });

    it('without If-Match, concurrent saves lose nothing: three uploads and a PUT at once keep all three files and the new subject', async () => {
      const { id } = (await (await call('/mails', 'POST', { subject: 'before' })).json()) as { id: string };
      const results = await Promise.all([upload(id, [['1.txt', '1']]), upload(id, [['2.txt', '2']]), upload(id, [['3.txt', '3']]), put(id, { subject: 'after' })]);
      expect(results.map((r) => r.status)).toEqual([201, 201, 201, 200]);
      const final = await host.api(`/mails/${id}`, { token: host.token });
      expect(final.headers.get('etag')).toBe('"v5"');
      const body = (await final.json()) as { subject: string; draftAttachments: Array<{ filename: string }>; attachments: Array<{ filename: string }> };
      expect(body.subject).toBe('after');
      expect(body.draftAttachments.map((a) => a.filename).sort()).toEqual(['1.txt', '2.txt', '3.txt']);
      expect(body.attachments.map((a) => a.filename).sort()).toEqual(['1.txt', '2.txt', '3.txt']); // composed into the bytes too
      expect(await unreferencedBlobs()).toEqual([]);
    });
  });
});
