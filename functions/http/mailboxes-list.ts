import { json, type RouteDef } from '../http-kit';

/** GET /api/mailboxes: the user's folders with total and unread counts. */
export const mailboxesList: RouteDef = {
  name: 'mailboxes-list',
  methods: ['GET'],
  route: 'mailboxes',
  auth: 'user',
  doc: { summary: "The user's folders with total and unread counts", success: { status: 200, description: '{items}' }, errors: ['Unauthenticated'] },
  async handler(app, _req, _ctx, principal) {
    const mailboxes = await app.store.listMailboxes(principal!.sub);
    return json(200, { items: mailboxes.map(({ userId: _u, ...m }) => m) });
  },
};
