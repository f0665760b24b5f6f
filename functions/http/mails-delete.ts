import { MailError } from '../../core/errors';
import { json, type RouteDef } from '../http-kit';

/** DELETE /api/mails/{id}: to Trash; from Trash, for good (with its raw bytes when no other copy needs them). */
export const mailsDelete: RouteDef = {
  name: 'mails-delete',
  methods: ['DELETE'],
  route: 'mails/{id}',
  auth: 'user',
  doc: { summary: 'Delete one message (to Trash; from Trash for good)', success: { status: 200, description: '{trashed, deleted}' }, errors: ['Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const result = await app.store.deleteMessages(principal!.sub, [req.params.id ?? '']);
    if (!result.trashed.length && !result.deleted.length) throw new MailError('NotFound', 'Message not found');
    await app.orphans.release(result.orphanedBlobKeys);
    return json(200, { trashed: result.trashed, deleted: result.deleted });
  },
};
