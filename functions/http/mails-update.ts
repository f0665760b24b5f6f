import { MailError } from '../../core/errors';
import { json, readJson, type RouteDef } from '../http-kit';
import { toListItem } from './mail-view';
import { MessagePatch, toStorePatch } from './schemas';

/** PATCH /api/mails/{id}: {seen, flagged, mailbox}. */
export const mailsUpdate: RouteDef = {
  name: 'mails-update',
  methods: ['PATCH'],
  route: 'mails/{id}',
  auth: 'user',
  doc: { summary: 'Set seen/flagged or move one message', body: MessagePatch, success: { status: 200, description: 'The message summary' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const patch = await readJson(req, MessagePatch, app.limits.maxJsonBytes);
    const [updated] = await app.store.updateMessages(principal!.sub, [req.params.id ?? ''], toStorePatch(patch));
    if (!updated) throw new MailError('NotFound', 'Message not found');
    return json(200, toListItem(updated));
  },
};
