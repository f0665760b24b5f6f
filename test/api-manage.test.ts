import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, listInbox, startTestHost, waitFor, type TestHost } from './helpers';

/** Accounts, aliases, folders and message changes over real HTTP on loopback: success, errors, authorization. */
describe('HTTP API: accounts, folders, message changes', () => {
  let host: TestHost;
  let userToken: string;
  let userId: string;
  const send = (to: string, subject: string) =>
    nodemailer.createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true }).sendMail({ from: 'x@sender.test', to, subject, text: 'body' });
  const login = async (email: string, password: string) => {
    const res = await host.api('/auth/login', { method: 'POST', body: JSON.stringify({ email, password }) });
    return { status: res.status, token: res.status === 200 ? ((await res.json()) as { token: string }).token : '' };
  };
  const expectError = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(((await res.json()) as { code: string }).code).toBe(code);
  };
  const post = (path: string, body: unknown, token = host.token, method = 'POST') => host.api(path, { method, token, body: JSON.stringify(body) });

  beforeAll(async () => {
    host = await startTestHost();
    const res = await post('/auth/register', { email: 'carol@example.com', password: 'carols password', name: 'Carol' });
    expect(res.status).toBe(201);
    userId = ((await res.json()) as { id: string }).id;
    userToken = (await login('carol@example.com', 'carols password')).token;
  });
  afterAll(async () => {
    await host.destroy();
  });

  describe('accounts', () => {
    it('GET /auth/me: who am I, with aliases', async () => {
      const me = (await (await host.api('/auth/me', { token: userToken })).json()) as any;
      expect(me).toMatchObject({ id: userId, email: 'carol@example.com', role: 'user', aliases: [] });
      expect(JSON.stringify(me)).not.toContain('password');
      expect((await host.api('/auth/me')).status).toBe(401);
    });

    it('register is admin-only, hosted domains only, unique, validated', async () => {
      await expectError(await post('/auth/register', { email: 'x@example.com', password: 'long enough', name: 'X' }, userToken), 403, 'Forbidden');
      await expectError(await post('/auth/register', { email: 'x@elsewhere.test', password: 'long enough', name: 'X' }), 400, 'DomainNotHosted');
      await expectError(await post('/auth/register', { email: 'carol@example.com', password: 'long enough', name: 'X' }), 409, 'Conflict');
      await expectError(await post('/auth/register', { email: 'not-an-address', password: 'long enough', name: 'X' }), 400, 'ValidationFailed');
      await expectError(await post('/auth/register', { email: 'y@example.com', password: 'long enough', name: 'Y', role: 'root' }), 400, 'ValidationFailed');
    });

    it('password change needs the current password; the old password and every older token stop working', async () => {
      await post('/auth/register', { email: 'dave@example.com', password: 'daves password', name: 'Dave' });
      const dave = (await login('dave@example.com', 'daves password')).token;
      const otherSession = (await login('dave@example.com', 'daves password')).token;
      await expectError(await post('/auth/password', { currentPassword: 'wrong', newPassword: 'daves new password' }, dave), 403, 'Forbidden');
      await expectError(await post('/auth/password', { currentPassword: 'daves password', newPassword: 'short' }, dave), 400, 'ValidationFailed');
      const changed = await post('/auth/password', { currentPassword: 'daves password', newPassword: 'daves new password' }, dave);
      expect(changed.status).toBe(200);
      const fresh = ((await changed.json()) as { token: string }).token;
      // tokens taken before the change are refused, the one handed back works
      await expectError(await host.api('/auth/me', { token: dave }), 401, 'Unauthenticated');
      await expectError(await host.api('/auth/me', { token: otherSession }), 401, 'Unauthenticated');
      expect((await host.api('/auth/me', { token: fresh })).status).toBe(200);
      expect((await login('dave@example.com', 'daves password')).status).toBe(401);
      expect((await login('dave@example.com', 'daves new password')).status).toBe(200);
    });

    it('logout revokes that token only; an admin password reset revokes all of the user\'s tokens', async () => {
      await post('/auth/register', { email: 'frank@example.com', password: 'franks password', name: 'Frank' });
      const laptop = (await login('frank@example.com', 'franks password')).token;
      const phone = (await login('frank@example.com', 'franks password')).token;
      expect((await post('/auth/logout', {}, laptop)).status).toBe(204);
      await expectError(await host.api('/auth/me', { token: laptop }), 401, 'Unauthenticated');
      await expectError(await post('/auth/logout', {}, laptop), 401, 'Unauthenticated');
      expect((await host.api('/auth/me', { token: phone })).status).toBe(200);

      const me = (await (await host.api('/auth/me', { token: phone })).json()) as { id: string };
      await expectError(await post(`/users/${me.id}/password`, { password: 'reset by admin' }, phone), 403, 'Forbidden');
      await expectError(await post(`/users/${me.id}/password`, { password: 'short' }), 400, 'ValidationFailed');
      await expectError(await post('/users/nobody/password', { password: 'reset by admin' }), 404, 'NotFound');
      expect((await post(`/users/${me.id}/password`, { password: 'reset by admin' })).status).toBe(204);
      await expectError(await host.api('/auth/me', { token: phone }), 401, 'Unauthenticated');
      expect((await login('frank@example.com', 'reset by admin')).status).toBe(200);
    });

    it('users: admin lists them with aliases; aliases receive mail over SMTP; removal', async () => {
      await expectError(await host.api('/users', { token: userToken }), 403, 'Forbidden');
      await expectError(await post(`/users/${userId}/aliases`, { address: 'sales@example.com' }, userToken), 403, 'Forbidden');
      const added = await post(`/users/${userId}/aliases`, { address: 'Sales@Example.com' });
      expect(added.status).toBe(201);
      expect(await added.json()).toEqual({ userId, aliases: ['sales@example.com'] });
      await expectError(await post(`/users/${userId}/aliases`, { address: 'sales@example.com' }), 409, 'Conflict');
      await expectError(await post(`/users/${userId}/aliases`, { address: 'admin@example.com' }), 409, 'Conflict');
      await expectError(await post(`/users/${userId}/aliases`, { address: 'sales@elsewhere.test' }), 400, 'DomainNotHosted');
      await expectError(await post('/users/nobody/aliases', { address: 'new@example.com' }), 404, 'NotFound');
      const users = (await (await host.api('/users', { token: host.token })).json()) as { items: Array<{ email: string; aliases: string[] }> };
      expect(users.items.find((u) => u.email === 'carol@example.com')!.aliases).toEqual(['sales@example.com']);

      await send('sales@example.com', 'to the alias');
      await waitFor(async () => (await listInbox(host, userToken)).find((m) => m.subject === 'to the alias'));

      await expectError(await host.api(`/users/${userId}/aliases/carol@example.com`, { method: 'DELETE', token: host.token }), 404, 'NotFound');
      await expectError(await host.api(`/users/${userId}/aliases/sales@example.com`, { method: 'DELETE', token: userToken }), 403, 'Forbidden');
      expect((await host.api(`/users/${userId}/aliases/sales@example.com`, { method: 'DELETE', token: host.token })).status).toBe(204);
      const refused = await send('sales@example.com', 'after removal').then(
        () => 'accepted',
        (e: { responseCode: number }) => e.responseCode,
      );
      expect(refused).toBe(550);
    });

    it('deleting a user: admin only, never oneself; their token and mail go with them', async () => {
      await post('/auth/register', { email: 'erin@example.com', password: 'erins password', name: 'Erin' });
      const erin = (await login('erin@example.com', 'erins password')).token;
      const erinId = ((await (await host.api('/auth/me', { token: erin })).json()) as { id: string }).id;
      await send('erin@example.com', 'for erin');
      await waitFor(async () => (await listInbox(host, erin)).find((m) => m.subject === 'for erin'));
      const blobsBefore = (host.db.db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n;
      await expectError(await host.api(`/users/${erinId}`, { method: 'DELETE', token: userToken }), 403, 'Forbidden');
      const adminId = ((await (await host.api('/auth/me', { token: host.token })).json()) as { id: string }).id;
      await expectError(await host.api(`/users/${adminId}`, { method: 'DELETE', token: host.token }), 403, 'Forbidden');
      await expectError(await host.api('/users/nobody', { method: 'DELETE', token: host.token }), 404, 'NotFound');
      expect((await host.api(`/users/${erinId}`, { method: 'DELETE', token: host.token })).status).toBe(204);
      await expectError(await host.api('/mails', { token: erin }), 401, 'Unauthenticated');
      expect((host.db.db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n).toBe(blobsBefore - 1);
    });
  });

  describe('folders', () => {
    it('create, rename, delete; standard folders fixed; names validated; other users get 404', async () => {
      const created = await post('/mailboxes', { name: 'Receipts' }, userToken);
      expect(created.status).toBe(201);
      const box = (await created.json()) as { id: string; name: string; total: number };
      expect(box).toMatchObject({ name: 'Receipts', specialUse: null, total: 0, unread: 0 });
      await expectError(await post('/mailboxes', { name: 'Receipts' }, userToken), 409, 'Conflict');
      await expectError(await post('/mailboxes', { name: 'a/b' }, userToken), 400, 'ValidationFailed');
      await expectError(await post('/mailboxes', { name: '' }, userToken), 400, 'ValidationFailed');
      const renamed = await post(`/mailboxes/${box.id}`, { name: 'Bills' }, userToken, 'PATCH');
      expect(((await renamed.json()) as { name: string }).name).toBe('Bills');
      const inbox = ((await (await host.api('/mailboxes', { token: userToken })).json()) as any).items[0];
      await expectError(await post(`/mailboxes/${inbox.id}`, { name: 'Renamed' }, userToken, 'PATCH'), 403, 'SpecialMailbox');
      await expectError(await host.api(`/mailboxes/${inbox.id}`, { method: 'DELETE', token: userToken }), 403, 'SpecialMailbox');
      await expectError(await post(`/mailboxes/${box.id}`, { name: 'Mine now' }, host.token, 'PATCH'), 404, 'NotFound');
      await expectError(await host.api(`/mailboxes/${box.id}`, { method: 'DELETE', token: host.token }), 404, 'NotFound');

      await send('carol@example.com', 'to file away');
      const item = await waitFor(async () => (await listInbox(host, userToken)).find((m) => m.subject === 'to file away'));
      await post(`/mails/${item.id}`, { mailbox: box.id }, userToken, 'PATCH');
      await expectError(await host.api(`/mailboxes/${box.id}`, { method: 'DELETE', token: userToken }), 409, 'MailboxNotEmpty');
      await expectError(await host.api(`/mailboxes/${box.id}?moveToTrash=maybe`, { method: 'DELETE', token: userToken }), 400, 'ValidationFailed');
      expect((await host.api(`/mailboxes/${box.id}?moveToTrash=true`, { method: 'DELETE', token: userToken })).status).toBe(204);
      const moved = (await (await host.api(`/mails/${item.id}`, { token: userToken })).json()) as { mailbox: string };
      const trash = ((await (await host.api('/mailboxes', { token: userToken })).json()) as any).items.find((m: any) => m.specialUse === 'trash');
      expect(moved.mailbox).toBe(trash.id);
    });
  });

  describe('message changes', () => {
    let ids: string[];
    beforeAll(async () => {
      for (const n of [1, 2, 3]) await send('carol@example.com', `change ${n}`);
      const items = await waitFor(async () => {
        const list = (await listInbox(host, userToken)).filter((m) => m.subject.startsWith('change '));
        return list.length === 3 ? list : undefined;
      });
      ids = items.map((m) => m.id);
    });

    it('PATCH one: seen and flagged change counts and filters; bad bodies are 400; others get 404', async () => {
      const res = await post(`/mails/${ids[0]}`, { seen: true, flagged: true }, userToken, 'PATCH');
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: ids[0], seen: true, flagged: true });
      const flagged = (await (await host.api('/mails?flagged=true', { token: userToken })).json()) as { items: Array<{ id: string }> };
      expect(flagged.items.map((m) => m.id)).toEqual([ids[0]]);
      const unread = (await (await host.api('/mails?unread=true', { token: userToken })).json()) as { items: Array<{ id: string }> };
      expect(unread.items.map((m) => m.id)).not.toContain(ids[0]);
      await expectError(await post(`/mails/${ids[0]}`, {}, userToken, 'PATCH'), 400, 'ValidationFailed');
      await expectError(await post(`/mails/${ids[0]}`, { seen: 'yes' }, userToken, 'PATCH'), 400, 'ValidationFailed');
      await expectError(await host.api(`/mails/${ids[0]}`, { method: 'PATCH', token: userToken, body: '{' }), 400, 'MalformedJson');
      await expectError(await post(`/mails/${ids[0]}`, { seen: false }, host.token, 'PATCH'), 404, 'NotFound');
      const adminInbox = ((await (await host.api('/mailboxes', { token: host.token })).json()) as any).items[0].id;
      await expectError(await post(`/mails/${ids[0]}`, { mailbox: adminInbox }, userToken, 'PATCH'), 404, 'NotFound');
      await expectError(await host.api('/mails?unread=perhaps', { token: userToken }), 400, 'ValidationFailed');
    });

    it('bulk PATCH: applies to the caller’s ids and lists the rest as not found', async () => {
      const res = await post('/mails', { ids: [ids[1], ids[2], 'nope'], seen: true }, userToken, 'PATCH');
      const body = (await res.json()) as { items: Array<{ seen: boolean }>; notFound: string[] };
      expect(body.items.map((m) => m.seen)).toEqual([true, true]);
      expect(body.notFound).toEqual(['nope']);
      const other = (await (await post('/mails', { ids: [ids[1]], seen: false }, host.token, 'PATCH')).json()) as { items: unknown[]; notFound: string[] };
      expect(other).toEqual({ items: [], notFound: [ids[1]] });
      await expectError(await post('/mails', { ids: [], seen: true }, userToken, 'PATCH'), 400, 'ValidationFailed');
    });

    it('DELETE: to Trash, then for good (raw gone too); bulk delete; others get 404', async () => {
      await expectError(await host.api(`/mails/${ids[0]}`, { method: 'DELETE', token: host.token }), 404, 'NotFound');
      expect(await (await host.api(`/mails/${ids[0]}`, { method: 'DELETE', token: userToken })).json()).toEqual({ trashed: [ids[0]], deleted: [] });
      expect(await (await host.api(`/mails/${ids[0]}`, { method: 'DELETE', token: userToken })).json()).toEqual({ trashed: [], deleted: [ids[0]] });
      await expectError(await host.api(`/mails/${ids[0]}/raw`, { token: userToken }), 404, 'NotFound');
      await expectError(await host.api(`/mails/${ids[0]}`, { method: 'DELETE', token: userToken }), 404, 'NotFound');
      const bulk = (await (await post('/mails', { ids: [ids[1], ids[2], ids[0]] }, userToken, 'DELETE')).json()) as any;
      expect(bulk).toEqual({ trashed: [ids[1], ids[2]], deleted: [], notFound: [ids[0]] });
      await expectError(await post('/mails', { ids: 'all' }, userToken, 'DELETE'), 400, 'ValidationFailed');
    });
  });

  it('search: q finds words in subject, sender and body across folders, only in one\'s own mail', async () => {
    await nodemailer
      .createTransport({ host: '127.0.0.1', port: host.smtpPort, ignoreTLS: true })
      .sendMail({ from: '"Grace Hopper" <grace@navy.test>', to: 'carol@example.com', subject: 'Compiler notes', text: 'The nanosecond wire is eleven inches.' });
    const found = await waitFor(async () => {
      const res = (await (await host.api('/mails?q=nanosec', { token: userToken })).json()) as { items: Array<{ subject: string }> };
      return res.items.length ? res.items : undefined;
    });
    expect(found.map((m) => m.subject)).toEqual(['Compiler notes']);
    const byPerson = (await (await host.api('/mails?q=grace%20hopper', { token: userToken })).json()) as { items: unknown[] };
    expect(byPerson.items).toHaveLength(1);
    const admin = (await (await host.api('/mails?q=nanosecond', { token: host.token })).json()) as { items: unknown[] };
    expect(admin.items).toEqual([]);
    await expectError(await host.api('/mails?q=', { token: userToken }), 400, 'ValidationFailed');
  });

  it('admin password still works (nothing above touched it)', async () => {
    expect((await login('admin@example.com', PASSWORD)).status).toBe(200);
  });
});
