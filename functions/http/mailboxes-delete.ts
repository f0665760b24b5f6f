import { z } from 'zod';
import { queryObject, validate, type RouteDef } from '../http-kit';

const Query = z.object({ moveToTrash: z.enum(['true', 'false']).default('false') });

/** DELETE /api/mailboxes/{id}[?moveToTrash=true]: a custom folder, when empty or with its messages moved to Trash. */
export const mailboxesDelete: RouteDef = {
  name: 'mailboxes-delete',
  methods: ['DELETE'],
  route: 'mailboxes/{id}',
  auth: 'user',
  doc: { summary: 'Delete a custom folder (moveToTrash=true moves its messages to Trash first)', query: Query, success: { status: 204, description: 'Deleted' }, errors: ['ValidationFailed', 'Unauthenticated', 'NotFound', 'SpecialMailbox', 'MailboxNotEmpty'] },
  async handler(app, req, _ctx, principal) {
    const query = validate(Query, queryObject(req));
    await app.store.deleteMailbox(principal!.sub, req.params.id ?? '', { moveToTrash: query.moveToTrash === 'true' });
    return { status: 204 };
  },
};
