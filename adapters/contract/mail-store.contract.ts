import { describe, expect, it } from 'vitest';
import { MailError } from '../../core/errors';
import type { MailStore, NewMessage } from '../../core/ports';
import { withFresh } from './harness';
import type { MessageSummary } from '../../core/types';

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
  });
}
