import { z } from 'zod';
import { MailError } from '../../core/errors';
import { json, queryObject, validate, type RouteDef } from '../http-kit';
import { toListItem } from './mail-view';

const ListQuery = z.object({
  mailbox: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(512).optional(),
  unread: z.enum(['true', 'false']).optional(),
  flagged: z.enum(['true', 'false']).optional(),
  q: z.string().trim().min(1).max(500).optional(),
});
const flag = (v: 'true' | 'false' | undefined) => (v === undefined ? undefined : v === 'true');

/** GET /api/mails?mailbox=&limit=&cursor=&unread=&flagged=&q=: newest first, keyset-paged; `q` searches (every folder unless `mailbox`). */
export const mailsList: RouteDef = {
  name: 'mails-list',
  methods: ['GET'],
  route: 'mails',
  auth: 'user',
  doc: { summary: 'List or search messages, newest first, cursor-paged', query: ListQuery, success: { status: 200, description: '{items, nextCursor}' }, errors: ['ValidationFailed', 'InvalidCursor', 'Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const query = validate(ListQuery, queryObject(req));
    const userId = principal!.sub;
    // a search without a folder looks in every folder; a listing without one shows the Inbox
    const mailboxId = query.mailbox ? (await app.store.getMailbox(userId, query.mailbox))?.id : query.q ? null : await app.store.specialMailboxId(userId, 'inbox');
    if (!mailboxId && (query.mailbox || !query.q)) throw new MailError('NotFound', 'Mailbox not found');
    const page = await app.store.listMessages(userId, {
      mailboxId: mailboxId ?? null,
      limit: query.limit,
      cursor: query.cursor,
      unread: flag(query.unread),
      flagged: flag(query.flagged),
      q: query.q,
    });
    return json(200, { items: page.items.map(toListItem), nextCursor: page.nextCursor });
  },
};
