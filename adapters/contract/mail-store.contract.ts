import { describe, expect, it } from 'vitest';
import { generateDkimKey } from '../../core/dkim';
import { MailError } from '../../core/errors';
import type { MailStore, NewMessage } from '../../core/ports';
import { withFresh } from './harness';
import type { DomainCheckState, MessageSummary } from '../../core/types';

const summary = (subject: string): MessageSummary => ({
  from: { address: 'a@sender.test', name: 'A' },
  to: [{ address: 'u@example.com', name: '' }],
  cc: [],
  subject,
  date: 1_700_000_000_000,
  messageId: `<${subject}@sender.test>`,
  attachments: [],
  snippet: 'hello',
});

/**
 * The MailStore contract: every adapter (SQLite now, Cosmos DB with the Azure issue)
 * runs this suite unchanged. `make` returns a fresh, empty store.
 */
export function mailStoreContract(name: string, make: () => Promise<{ store: MailStore; cleanup(): Promise<void> }>): void {
  describe(`MailStore contract: ${name}`, () => {
    const withStore = (fn: (store: MailStore) => Promise<void>) => withFresh(make, undefined, ({ store }) => fn(store));

    it(
      'setup creates the domain and an admin once; a second setup is AlreadySetUp',
      withStore(async (store) => {
        expect(await store.countUsers()).toBe(0);
        const admin = await store.setup({ domain: 'Example.com', email: 'Admin@Example.com', name: 'Admin', passwordHash: 'h' });
        expect(admin).toMatchObject({ email: 'admin@example.com', role: 'admin', name: 'Admin' });
        expect(await store.getDomain('EXAMPLE.COM')).toMatchObject({ name: 'example.com' });
        await expect(store.setup({ domain: 'b.com', email: 'x@b.com', name: 'X', passwordHash: 'h' })).rejects.toMatchObject({ code: 'AlreadySetUp' });
        expect(await store.countUsers()).toBe(1);
      }),
    );

    it(
      'sessions: a password change raises the token version; revoked token ids are listed until they expire',
      withStore(async (store) => {
        await store.createDomain('example.com');
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h1', role: 'user' });
        expect(await store.getUserSession(u.id)).toMatchObject({ ...u, tokenVersion: 0, revokedTokenIds: [] });
        expect((await store.getUserByEmail('u@example.com'))?.tokenVersion).toBe(0);
        expect(await store.setPasswordHash(u.id, 'h2')).toEqual({ tokenVersion: 1 });
        expect(await store.setPasswordHash(u.id, 'h3')).toEqual({ tokenVersion: 2 });
        expect(await store.getUserByEmail('u@example.com')).toMatchObject({ passwordHash: 'h3', tokenVersion: 2 });
        const now = Date.now();
        await store.revokeToken(u.id, 'gone-soon', now + 300);
        await store.revokeToken(u.id, 'gone-later', now + 60_000);
        expect((await store.getUserSession(u.id))?.revokedTokenIds.sort()).toEqual(['gone-later', 'gone-soon']);
        await new Promise((r) => setTimeout(r, 400));
        expect((await store.getUserSession(u.id))?.revokedTokenIds).toEqual(['gone-later']);
        expect(await store.getUserSession('missing')).toBeNull();
        await expect(store.setPasswordHash('missing', 'h')).rejects.toMatchObject({ code: 'NotFound' });
      }),
    );

    it(
      'the last admin cannot be deleted, also when two admins delete each other at once',
      withStore(async (store) => {
        const a = await store.setup({ domain: 'example.com', email: 'a@example.com', name: 'A', passwordHash: 'h' });
        await expect(store.deleteUser(a.id)).rejects.toMatchObject({ code: 'LastAdmin' });
        const b = await store.createUser({ email: 'b@example.com', name: 'B', passwordHash: 'h', role: 'admin' });
        const results = await Promise.allSettled([store.deleteUser(a.id), store.deleteUser(b.id)]);
        expect(results.map((r) => (r.status === 'fulfilled' ? 'deleted' : (r.reason as MailError).code ?? String(r.reason))).sort()).toEqual(['LastAdmin', 'deleted']);
        expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['LastAdmin']);
        const admins = (await store.listUsers()).filter((u) => u.role === 'admin');
        expect(admins).toHaveLength(1);
        // the one left is whole: it can still be found and still cannot be deleted
        expect(await store.getUserSession(admins[0].id)).not.toBeNull();
        await expect(store.deleteUser(admins[0].id)).rejects.toMatchObject({ code: 'LastAdmin' });
      }),
    );

    it(
      'domains: created without a DKIM key; a key set is read back whole; setting one on an unknown domain is NotFound',
      withStore(async (store) => {
        const created = await store.createDomain('Keys.example');
        expect(created).toMatchObject({ name: 'keys.example', dkim: null });
        expect((await store.getDomain('keys.example'))?.dkim).toBeNull();
        const key = await generateDkimKey(Date.UTC(2026, 10, 26));
        expect(key.selector).toBe('nimbus20261126');
        await store.setDomainDkim('KEYS.example', key);
        expect((await store.getDomain('keys.example'))?.dkim).toEqual(key);
        expect((await store.listDomains()).find((d) => d.name === 'keys.example')?.dkim).toEqual(key);
        await expect(store.setDomainDkim('nowhere.example', key)).rejects.toMatchObject({ code: 'NotFound' });
      }),
    );

    it(
      'domains: a new domain is pending and due now (or when asked), with its key; a check result is kept whole',
      withStore(async (store) => {
        const before = Date.now();
        const key = await generateDkimKey(Date.UTC(2026, 10, 26));
        const d = await store.createDomain('Checked.example', { dkim: key, nextCheckAt: 5_000 });
        expect(d).toMatchObject({ name: 'checked.example', status: 'pending', records: [], attempts: 0, lastCheckedAt: null, nextCheckAt: 5_000, reason: null, sendgrid: null, dkim: key });
        const plain = await store.createDomain('plain.example');
        expect(plain.nextCheckAt).toBeGreaterThanOrEqual(before);
        expect(await store.getDomain('plain.example')).toEqual(plain);
        const state: DomainCheckState = {
          status: 'degraded',
          reason: 'TXT checked.example: SPF exists but does not include this server',
          records: [{ type: 'TXT', host: 'checked.example', value: 'v=spf1 mx ~all', purpose: 'spf', status: 'wrong', found: 'v=spf1 -all', explanation: 'SPF exists but does not include this server' }],
          attempts: 3,
          lastCheckedAt: 10_000,
          nextCheckAt: 20_000,
        };
        expect(await store.claimDomainCheck('checked.example', 'tok', 9_000, 60_000)).toBe('claimed');
        expect(await store.saveDomainCheck('CHECKED.example', 'tok', state)).toEqual({ ...d, ...state });
        expect(await store.getDomain('checked.example')).toEqual({ ...d, ...state });
        expect((await store.listDomains()).find((x) => x.name === 'checked.example')).toEqual({ ...d, ...state });
        const sendgrid = { id: 42, valid: false, records: [{ type: 'CNAME' as const, host: 'em42.checked.example', value: 'u42.wl.sendgrid.net', purpose: 'sendgrid' as const }] };
        await store.setDomainSendgrid('checked.example', sendgrid);
        expect((await store.getDomain('checked.example'))).toMatchObject({ sendgrid, ...state, dkim: key });
        await expect(store.saveDomainCheck('nowhere.example', 'tok', state)).rejects.toMatchObject({ code: 'NotFound' });
        await expect(store.setDomainSendgrid('nowhere.example', null)).rejects.toMatchObject({ code: 'NotFound' });
      }),
    );

    it(
      'domain check claims: one holder at a time; an expired claim is taken over; saving or releasing frees only the own claim',
      withStore(async (store) => {
        await store.createDomain('claims.example');
        expect(await store.claimDomainCheck('claims.example', 'a', 1_000, 2_000)).toBe('claimed');
        expect(await store.claimDomainCheck('claims.example', 'b', 1_500, 2_500)).toBe('busy');
        expect(await store.claimDomainCheck('nowhere.example', 'b', 1_500, 2_500)).toBe('missing');
        // a dead holder's claim expires
        expect(await store.claimDomainCheck('claims.example', 'b', 2_001, 3_000)).toBe('claimed');
        // the late first holder stores its result but does not free b's claim
        const domain = (await store.getDomain('claims.example'))!;
        await store.saveDomainCheck('claims.example', 'a', { ...domain, attempts: 1, lastCheckedAt: 2_100 });
        expect(await store.claimDomainCheck('claims.example', 'c', 2_200, 4_000)).toBe('busy');
        await store.releaseDomainCheck('claims.example', 'a'); // not a's: no effect
        expect(await store.claimDomainCheck('claims.example', 'c', 2_200, 4_000)).toBe('busy');
        await store.saveDomainCheck('claims.example', 'b', { ...domain, attempts: 2, lastCheckedAt: 2_300 });
        expect(await store.claimDomainCheck('claims.example', 'c', 2_400, 4_000)).toBe('claimed');
        await store.releaseDomainCheck('claims.example', 'c');
        expect(await store.claimDomainCheck('claims.example', 'd', 2_500, 4_000)).toBe('claimed');
        expect((await store.getDomain('claims.example'))?.attempts).toBe(2);
      }),
    );

    it(
      'deleting a domain: Conflict while a user or an alias is on it (saying how many), NotFound when not hosted',
      withStore(async (store) => {
        await store.createDomain('gone.example');
        await store.createDomain('other.example');
        await store.createDomain('e.example'); // a suffix of other names: must not count their addresses
        const u = await store.createUser({ email: 'u@gone.example', name: 'U', passwordHash: 'h', role: 'user' });
        const v = await store.createUser({ email: 'v@other.example', name: 'V', passwordHash: 'h', role: 'user' });
        await store.addAlias(v.id, 'alias@gone.example');
        await expect(store.deleteDomain('gone.example')).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining('2 addresses') });
        await store.deleteUser(u.id);
        await expect(store.deleteDomain('Gone.example')).rejects.toMatchObject({ code: 'Conflict', message: expect.stringContaining('1 address ') });
        await store.removeAlias(v.id, 'alias@gone.example');
        await store.deleteDomain('gone.example');
        expect(await store.getDomain('gone.example')).toBeNull();
        await store.deleteDomain('e.example');
        await expect(store.deleteDomain('gone.example')).rejects.toMatchObject({ code: 'NotFound' });
        expect((await store.listDomains()).map((d) => d.name)).toEqual(['other.example']);
      }),
    );

    it(
      'users: unique addresses, lookups by email and id, hash only through getUserByEmail',
      withStore(async (store) => {
        await store.createDomain('example.com');
        await expect(store.createDomain('example.com')).rejects.toMatchObject({ code: 'Conflict' });
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'secret-hash', role: 'user' });
        await expect(store.createUser({ email: 'U@example.com', name: 'U2', passwordHash: 'h', role: 'user' })).rejects.toBeInstanceOf(MailError);
        expect((await store.getUserByEmail('U@EXAMPLE.COM'))?.passwordHash).toBe('secret-hash');
        expect(await store.getUserById(u.id)).toEqual(u);
        expect(await store.getUserById('missing')).toBeNull();
        expect(await store.getUserByEmail('missing@example.com')).toBeNull();
        expect(await store.resolveAddress('U@example.com')).toEqual({ userId: u.id });
        expect(await store.resolveAddress('v@example.com')).toBeNull();
        expect((await store.listDomains()).map((d) => d.name)).toEqual(['example.com']);
      }),
    );

    it(
      'a new user has the five default folders, empty',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const boxes = await store.listMailboxes(u.id);
        expect(boxes.map((b) => [b.name, b.specialUse, b.total, b.unread])).toEqual([
          ['Inbox', 'inbox', 0, 0],
          ['Sent', 'sent', 0, 0],
          ['Drafts', 'drafts', 0, 0],
          ['Junk', 'junk', 0, 0],
          ['Trash', 'trash', 0, 0],
        ]);
        expect(await store.getMailbox(u.id, boxes[0].id)).toEqual(boxes[0]);
        expect(await store.findMailboxBySpecialUse(u.id, 'trash')).toEqual(boxes[4]);
        for (const box of boxes) expect(await store.specialMailboxId(u.id, box.specialUse!)).toBe(box.id);
        expect(await store.specialMailboxId('no-such-user', 'inbox')).toBeNull();
      }),
    );

    it(
      'filing is idempotent per (user, inbound id) and isolated per user',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const v = await store.createUser({ email: 'v@example.com', name: 'V', passwordHash: 'h', role: 'user' });
        const inboxU = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
        const inboxV = (await store.findMailboxBySpecialUse(v.id, 'inbox'))!;
        const item = (userId: string, mailboxId: string): NewMessage => ({ userId, mailboxId, inboundId: 'in-1', rawBlobKey: 'raw/in-1.eml', size: 123, receivedAt: 1000, summary: summary('s1'), auth: null });
        const [first] = await store.fileMessages([item(u.id, inboxU.id)]);
        const [again] = await store.fileMessages([item(u.id, inboxU.id)]);
        expect(again).toEqual(first);
        const [forV] = await store.fileMessages([item(v.id, inboxV.id)]);
        expect(forV.id).not.toBe(first.id);
        expect((await store.getMailbox(u.id, inboxU.id))!.total).toBe(1);
        expect((await store.getMailbox(u.id, inboxU.id))!.unread).toBe(1);
        expect(await store.getMessage(u.id, first.id)).toMatchObject({ summary: summary('s1'), size: 123, seen: false, flagged: false, rawBlobKey: 'raw/in-1.eml' });
        expect(await store.getMessage(v.id, first.id)).toBeNull(); // another user's id is not found
        expect(await store.getMailbox(v.id, inboxU.id)).toBeNull();
        expect(first.rawPrefix ?? null).toBeNull();
      }),
    );

    it(
      'a message keeps its auth results and the header prefix added after its bytes were stored',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const junk = (await store.findMailboxBySpecialUse(u.id, 'junk'))!;
        const auth = { spf: 'pass', dkim: 'fail', dmarc: 'fail', arc: 'none', dmarcPolicy: 'reject' as const };
        const rawPrefix = 'Authentication-Results: mx.test;\r\n dkim=fail;\r\n spf=pass\r\n';
        const [m] = await store.fileMessages([{ userId: u.id, mailboxId: junk.id, inboundId: 'in-auth', rawBlobKey: 'raw/a.eml', size: 500, receivedAt: 1, summary: summary('a'), auth, rawPrefix }]);
        expect(await store.getMessage(u.id, m.id)).toMatchObject({ auth, rawPrefix, mailboxId: junk.id });
      }),
    );

    it(
      'listing: newest first, stable cursor paging, invalid cursor rejected',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const inbox = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
        const items: NewMessage[] = Array.from({ length: 25 }, (_, i) => ({
          userId: u.id,
          mailboxId: inbox.id,
          inboundId: `in-${i}`,
          rawBlobKey: `raw/${i}`,
          size: i,
          receivedAt: 10_000 + Math.floor(i / 3), // ties on purpose
          summary: summary(`m${i}`),
          auth: null,
        }));
        await store.fileMessages(items);
        const seen: string[] = [];
        let cursor: string | null = null;
        let first = true;
        do {
          const page = await store.listMessages(u.id, { mailboxId: inbox.id, limit: 10, cursor });
          if (first) {
            // a message arriving mid-walk must not shift later pages
            await store.fileMessages([{ ...items[0], inboundId: 'late', receivedAt: 99_999, summary: summary('late') }]);
            first = false;
          }
          seen.push(...page.items.map((m) => m.summary.subject));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen).toHaveLength(25);
        expect(new Set(seen).size).toBe(25);
        const order = seen.map((s) => Number(s.slice(1)));
        for (let i = 1; i < order.length; i++) expect(Math.floor(order[i] / 3)).toBeLessThanOrEqual(Math.floor(order[i - 1] / 3));
        await expect(store.listMessages(u.id, { mailboxId: inbox.id, limit: 10, cursor: 'garbage!' })).rejects.toMatchObject({ code: 'InvalidCursor' });
      }),
    );

    it(
      'search: every word (as a prefix) in subject, people or body; per user; punctuation is plain text',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const v = await store.createUser({ email: 'v@example.com', name: 'V', passwordHash: 'h', role: 'user' });
        const inbox = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
        const sent = (await store.findMailboxBySpecialUse(u.id, 'sent'))!;
        const vInbox = (await store.findMailboxBySpecialUse(v.id, 'inbox'))!;
        const item = (userId: string, mailboxId: string, n: number, s: Partial<MessageSummary>): NewMessage => ({
          userId, mailboxId, inboundId: `s-${n}`, rawBlobKey: `raw/s${n}`, size: 1, receivedAt: n, summary: { ...summary(`m${n}`), ...s }, auth: null,
        });
        await store.fileMessages([
          item(u.id, inbox.id, 1, { subject: 'Quarterly Report', searchText: 'numbers attached' }),
          item(u.id, sent.id, 2, { subject: 'Lunch?', from: { address: 'zoë@café.test', name: 'Zoë Müller' }, searchText: 'the invoice is overdue' }),
          item(v.id, vInbox.id, 3, { subject: 'Quarterly report for V', searchText: 'invoice' }),
        ]);
        const search = async (q: string, mailboxId: string | null = null) => (await store.listMessages(u.id, { mailboxId, limit: 10, q })).items.map((m) => m.summary.subject);
        expect(await search('quarterly')).toEqual(['Quarterly Report']); // not V's
        expect(await search('QUART rep')).toEqual(['Quarterly Report']);
        // a store may index body text a moment after filing (SQLite's does it at once; rows an older version left wait for its idle time)
        const until = Date.now() + 5000;
        while ((await search('invoice overdue')).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
        expect(await search('invoice overdue')).toEqual(['Lunch?']); // body text
        expect(await search('muller')).toEqual(['Lunch?']); // people, diacritics folded
        expect(await search('invoice', inbox.id)).toEqual([]); // scoped to a folder
        expect(await search('"report" OR NEAR(x')).toEqual([]); // FTS syntax is just text
        expect(await search('report"*')).toEqual(['Quarterly Report']);
        expect(await search('?!')).toEqual([]);
        const [stored] = (await store.listMessages(u.id, { mailboxId: inbox.id, limit: 1 })).items;
        expect(stored.summary.searchText).toBeUndefined(); // indexed, not kept in the summary
      }),
    );

    it(
      'aliases deliver to their user; the primary address is no alias; users list their aliases',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const v = await store.createUser({ email: 'v@example.com', name: 'V', passwordHash: 'h', role: 'user' });
        await store.addAlias(u.id, 'Sales@Example.com');
        expect(await store.resolveAddress('sales@example.com')).toEqual({ userId: u.id });
        await expect(store.addAlias(v.id, 'sales@example.com')).rejects.toMatchObject({ code: 'Conflict' });
        await expect(store.addAlias(v.id, 'u@example.com')).rejects.toMatchObject({ code: 'Conflict' });
        await expect(store.addAlias('missing', 'x@example.com')).rejects.toMatchObject({ code: 'NotFound' });
        expect(await store.listAliases(u.id)).toEqual(['sales@example.com']);
        expect((await store.listUsers()).map((x) => [x.email, x.aliases])).toEqual([
          ['u@example.com', ['sales@example.com']],
          ['v@example.com', []],
        ]);
        await expect(store.removeAlias(u.id, 'u@example.com')).rejects.toMatchObject({ code: 'NotFound' });
        await expect(store.removeAlias(v.id, 'sales@example.com')).rejects.toMatchObject({ code: 'NotFound' });
        await store.removeAlias(u.id, 'sales@example.com');
        expect(await store.resolveAddress('sales@example.com')).toBeNull();
        await store.setPasswordHash(u.id, 'new-hash');
        expect((await store.getUserByEmail('u@example.com'))!.passwordHash).toBe('new-hash');
      }),
    );

    it(
      'custom folders: create, rename, delete when empty or by moving to Trash; standard folders are fixed',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const inbox = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
        const work = await store.createMailbox(u.id, 'Work');
        await expect(store.createMailbox(u.id, 'Work')).rejects.toMatchObject({ code: 'Conflict' });
        await expect(store.renameMailbox(u.id, inbox.id, 'Other')).rejects.toMatchObject({ code: 'SpecialMailbox' });
        await expect(store.deleteMailbox(u.id, inbox.id, { moveToTrash: true })).rejects.toMatchObject({ code: 'SpecialMailbox' });
        await expect(store.renameMailbox(u.id, work.id, 'Inbox')).rejects.toMatchObject({ code: 'Conflict' });
        expect((await store.renameMailbox(u.id, work.id, 'Projects')).name).toBe('Projects');
        await store.fileMessages([{ userId: u.id, mailboxId: work.id, inboundId: 'w1', rawBlobKey: 'k', size: 1, receivedAt: 1, summary: summary('w1'), auth: null }]);
        await expect(store.deleteMailbox(u.id, work.id, { moveToTrash: false })).rejects.toMatchObject({ code: 'MailboxNotEmpty' });
        await store.deleteMailbox(u.id, work.id, { moveToTrash: true });
        expect(await store.getMailbox(u.id, work.id)).toBeNull();
        expect(await store.findMailboxBySpecialUse(u.id, 'trash')).toMatchObject({ total: 1, unread: 1 });
        const other = await store.createUser({ email: 'o@example.com', name: 'O', passwordHash: 'h', role: 'user' });
        await expect(store.renameMailbox(other.id, (await store.createMailbox(u.id, 'Mine')).id, 'x')).rejects.toMatchObject({ code: 'NotFound' });
      }),
    );

    it(
      'flags, moves and deletes keep folder counts right and never touch another user',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const v = await store.createUser({ email: 'v@example.com', name: 'V', passwordHash: 'h', role: 'user' });
        const inbox = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
        const trash = (await store.findMailboxBySpecialUse(u.id, 'trash'))!;
        const vInbox = (await store.findMailboxBySpecialUse(v.id, 'inbox'))!;
        const msg = (userId: string, mailboxId: string, n: number): NewMessage => ({ userId, mailboxId, inboundId: `in-${n}`, rawBlobKey: `raw/${n}`, size: 1, receivedAt: n, summary: summary(`m${n}`), auth: null });
        const [a, b, c] = await store.fileMessages([msg(u.id, inbox.id, 1), msg(u.id, inbox.id, 2), msg(u.id, inbox.id, 3)]);
        const [shared] = await store.fileMessages([{ ...msg(v.id, vInbox.id, 3) }]); // same raw blob as c
        await store.updateMessages(u.id, [a.id, b.id], { seen: true });
        await store.updateMessages(u.id, [b.id], { flagged: true });
        expect(await store.getMailbox(u.id, inbox.id)).toMatchObject({ total: 3, unread: 1 });
        expect((await store.listMessages(u.id, { mailboxId: inbox.id, limit: 10, unread: true })).items.map((m) => m.id)).toEqual([c.id]);
        expect((await store.listMessages(u.id, { mailboxId: inbox.id, limit: 10, flagged: true })).items.map((m) => m.id)).toEqual([b.id]);
        expect(await store.updateMessages(v.id, [a.id], { seen: false })).toEqual([]); // not v's
        await expect(store.updateMessages(u.id, [a.id], { mailboxId: vInbox.id })).rejects.toMatchObject({ code: 'NotFound' });
        const moved = await store.updateMessages(u.id, [c.id], { mailboxId: trash.id });
        expect(moved[0].mailboxId).toBe(trash.id);
        expect(await store.getMailbox(u.id, trash.id)).toMatchObject({ total: 1, unread: 1 });
        expect(await store.getMailbox(u.id, inbox.id)).toMatchObject({ total: 2, unread: 0 });
        // delete: a from Inbox goes to Trash; c (in Trash) goes for good, its blob still used by v's copy
        const first = await store.deleteMessages(u.id, [a.id, c.id, 'unknown', shared.id]);
        expect(first).toEqual({ trashed: [a.id], deleted: [c.id], orphanedBlobKeys: [] });
        expect(await store.getMessage(u.id, c.id)).toBeNull();
        const second = await store.deleteMessages(u.id, [a.id]);
        expect(second).toEqual({ trashed: [], deleted: [a.id], orphanedBlobKeys: ['raw/1'] });
        expect(await store.getMailbox(u.id, trash.id)).toMatchObject({ total: 0, unread: 0 });
        expect(await store.getMessage(v.id, shared.id)).not.toBeNull();
        // deleting v frees the blob c and v shared
        expect(await store.deleteUser(v.id)).toEqual({ orphanedBlobKeys: ['raw/3'] });
        expect(await store.resolveAddress('v@example.com')).toBeNull();
        await expect(store.deleteUser(v.id)).rejects.toMatchObject({ code: 'NotFound' });
      }),
    );
  
    it(
      'large folders and users: moving 130 messages to Trash and deleting a user of 230 go past any page size',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const inbox = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
        const work = await store.createMailbox(u.id, 'Work');
        const msg = (mailboxId: string, n: number): NewMessage => ({ userId: u.id, mailboxId, inboundId: `big-${n}`, rawBlobKey: `raw/big-${n}`, size: 1, receivedAt: n, summary: summary(`b${n}`), auth: null });
        await store.fileMessages(Array.from({ length: 100 }, (_, i) => msg(inbox.id, i)));
        await store.fileMessages(Array.from({ length: 130 }, (_, i) => msg(work.id, 100 + i)));
        expect(await store.getMailbox(u.id, work.id)).toMatchObject({ total: 130, unread: 130 });
        await expect(store.deleteMailbox(u.id, work.id, { moveToTrash: false })).rejects.toMatchObject({ code: 'MailboxNotEmpty' });
        await store.deleteMailbox(u.id, work.id, { moveToTrash: true });
        expect(await store.findMailboxBySpecialUse(u.id, 'trash')).toMatchObject({ total: 130, unread: 130 });
        const { orphanedBlobKeys } = await store.deleteUser(u.id);
        expect(orphanedBlobKeys.sort()).toEqual(Array.from({ length: 230 }, (_, i) => `raw/big-${i}`).sort());
        expect(await store.listMailboxes(u.id)).toEqual([]);
        expect(await store.getUserById(u.id)).toBeNull();
      }),
    );

    it(
      'referencedBlobKeys: any copy\'s raw key, a draft\'s bytes and files; nothing else; nothing once deleted for good',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const v = await store.createUser({ email: 'v@example.com', name: 'V', passwordHash: 'h', role: 'user' });
        const copy = async (userId: string, inboundId: string, rawBlobKey: string) => {
          const inbox = (await store.findMailboxBySpecialUse(userId, 'inbox'))!;
          return (await store.fileMessages([{ userId, mailboxId: inbox.id, inboundId, rawBlobKey, size: 1, receivedAt: 1, summary: summary(inboundId), auth: null }]))[0];
        };
        const mine = await copy(u.id, 'in-1', 'raw/shared.eml');
        await copy(v.id, 'in-1', 'raw/shared.eml');
        const only = await copy(u.id, 'in-2', 'raw/only-u.eml');
        const fields = { to: [], cc: [], bcc: [], subject: 'd', text: '', html: null, inReplyTo: null };
        const files = [1, 2].map((n) => ({ id: `f${n}`, filename: `${n}.txt`, contentType: 'text/plain', size: 1, blobKey: `att/${n}` }));
        const { message: draft } = await store.saveDraft(u.id, { id: null, fields, attachments: files, rawBlobKey: 'raw/draft-1.eml', size: 1, summary: summary('d') });
        const everything = ['raw/shared.eml', 'raw/only-u.eml', 'raw/draft-1.eml', 'att/1', 'att/2'];
        const asked = [...everything, 'raw/nobody.eml', 'att/nobody', ...Array.from({ length: 250 }, (_, i) => `raw/filler-${i}.eml`)];
        expect([...(await store.referencedBlobKeys(asked))].sort()).toEqual([...everything].sort());
        expect(await store.referencedBlobKeys([])).toEqual(new Set());
        // u's copies deleted for good (to Trash, then from Trash): v's copy still refers to the shared bytes
        for (let i = 0; i < 2; i++) await store.deleteMessages(u.id, [mine.id, only.id, draft.id]);
        expect([...(await store.referencedBlobKeys(everything))]).toEqual(['raw/shared.eml']);
      }),
    );

    it(
      'drafts carry a version: 1 when created, one up per save; a save expecting another version is PreconditionFailed and changes nothing, also when two race',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const fields = (subject: string) => ({ to: [], cc: [], bcc: [], subject, text: '', html: null, inReplyTo: null });
        const save = (id: string | null, subject: string, expectedVersion?: number) =>
          store.saveDraft(u.id, { id, expectedVersion, fields: fields(subject), attachments: [], rawBlobKey: `raw/draft-${subject}.eml`, size: 1, summary: summary(subject) });
        const created = await save(null, 'v1');
        expect(created).toMatchObject({ version: 1, replacedBlobKey: null });
        const id = created.message.id;
        expect(await store.getDraft(u.id, id)).toMatchObject({ id, version: 1, fields: { subject: 'v1' } });
        expect(await save(id, 'v2', 1)).toMatchObject({ version: 2, replacedBlobKey: 'raw/draft-v1.eml' });
        await expect(save(id, 'stale', 1)).rejects.toMatchObject({ code: 'PreconditionFailed' });
        expect(await store.getDraft(u.id, id)).toMatchObject({ version: 2, fields: { subject: 'v2' } });
        expect((await store.getMessage(u.id, id))!.rawBlobKey).toBe('raw/draft-v2.eml');
        expect(await save(id, 'v3')).toMatchObject({ version: 3 }); // no expectation: saved over whatever is there
        // two saves from version 3 at once: one wins, the other is told
        const raced = await Promise.allSettled([save(id, 'a', 3), save(id, 'b', 3)]);
        expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(raced.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['PreconditionFailed']);
        expect((await store.getDraft(u.id, id))!.version).toBe(4);
        // a flag change is no save: the version stays, and a save expecting it still succeeds
        await store.updateMessages(u.id, [id], { flagged: true });
        expect(await save(id, 'v5', 4)).toMatchObject({ version: 5 });
        expect(await store.getMessage(u.id, id)).toMatchObject({ flagged: true });
        await expect(save('unknown-draft', 'x', 1)).rejects.toMatchObject({ code: 'NotFound' });
      }),
    );

    it(
      'sent copies: filed read, with a delivery list; updateDelivery merges by recipient, in parallel too; unknown or other users\' ids answer false',
      withStore(async (store) => {
        const u = await store.createUser({ email: 'u@example.com', name: 'U', passwordHash: 'h', role: 'user' });
        const v = await store.createUser({ email: 'v@example.com', name: 'V', passwordHash: 'h', role: 'user' });
        const sent = (await store.findMailboxBySpecialUse(u.id, 'sent'))!;
        const queued = (recipient: string) => ({ recipient, status: 'queued' as const, attempts: 0, nextAttemptAt: null, detail: null });
        const [copy] = await store.fileMessages([
          { userId: u.id, mailboxId: sent.id, inboundId: 'sent:1', rawBlobKey: 'raw/s1', size: 5, receivedAt: 1000, summary: summary('out'), auth: null, seen: true, delivery: ['a@x.test', 'b@x.test', 'c@y.test'].map(queued) },
        ]);
        expect(copy).toMatchObject({ seen: true, mailboxId: sent.id });
        expect(await store.getMailbox(u.id, sent.id)).toMatchObject({ total: 1, unread: 0 });
        expect((await store.getMessage(u.id, copy.id))?.delivery?.map((d) => d.status)).toEqual(['queued', 'queued', 'queued']);
        // mail filed without a delivery list has none
        const inbox = (await store.findMailboxBySpecialUse(u.id, 'inbox'))!;
        const [plain] = await store.fileMessages([{ userId: u.id, mailboxId: inbox.id, inboundId: 'in:1', rawBlobKey: 'raw/i1', size: 5, receivedAt: 1000, summary: summary('in'), auth: null }]);
        expect((await store.getMessage(u.id, plain.id))?.delivery ?? null).toBeNull();
        expect((await store.getMailbox(u.id, inbox.id))?.unread).toBe(1);

        // two domains' attempts report at once: neither update is lost
        const at = 5_000_000;
        const results = await Promise.all([
          store.updateDelivery(u.id, copy.id, [{ recipient: 'A@x.test', status: 'sent', attempts: 1, nextAttemptAt: null, detail: '250 ok' }, { recipient: 'b@x.test', status: 'failed', attempts: 1, nextAttemptAt: null, detail: '550 no such user' }]),
          store.updateDelivery(u.id, copy.id, [{ recipient: 'c@y.test', status: 'deferred', attempts: 1, nextAttemptAt: at, detail: '451 later' }]),
        ]);
        expect(results).toEqual([true, true]);
        const after = (await store.getMessage(u.id, copy.id))!.delivery!;
        expect(after.map((d) => [d.recipient.toLowerCase(), d.status, d.attempts, d.nextAttemptAt, d.detail])).toEqual([
          ['a@x.test', 'sent', 1, null, '250 ok'],
          ['b@x.test', 'failed', 1, null, '550 no such user'],
          ['c@y.test', 'deferred', 1, at, '451 later'],
        ]);
        expect(await store.updateDelivery(v.id, copy.id, [queued('a@x.test')])).toBe(false);
        expect(await store.updateDelivery(u.id, 'no-such-message', [queued('a@x.test')])).toBe(false);
        expect((await store.getMessage(u.id, copy.id))!.delivery!.find((d) => d.recipient.toLowerCase() === 'a@x.test')?.status).toBe('sent');
        // a sent copy is idempotent on its inbound id like any other copy
        const [again] = await store.fileMessages([{ userId: u.id, mailboxId: sent.id, inboundId: 'sent:1', rawBlobKey: 'raw/s1', size: 5, receivedAt: 1000, summary: summary('out'), auth: null, seen: true, delivery: [] }]);
        expect(again.id).toBe(copy.id);
        expect(await store.getMailbox(u.id, sent.id)).toMatchObject({ total: 1, unread: 0 });
      }),
    );
  });
}
