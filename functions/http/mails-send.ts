import { draftFileContents } from '../../core/drafts';
import { currentUser, json, type RouteDef } from '../http-kit';
import { ownDraft } from './draft-view';
import { sendForUser } from './send-kit';

/**
 * POST /api/mails/{id}/send: sends a draft → 202 {id, delivery}, `id` being the copy
 * in Sent. The message is composed afresh (server-set Message-ID and Date; Bcc in
 * the envelope, not the bytes); the draft and its files leave Drafts for good.
 */
export const mailsSend: RouteDef = {
  name: 'mails-send',
  methods: ['POST'],
  route: 'mails/{id}/send',
  auth: 'user',
  doc: {
    summary: 'Send a draft; 202 with the Sent copy id and each recipient\'s delivery state',
    success: { status: 202, description: '{id, delivery}' },
    errors: ['ValidationFailed', 'PayloadTooLarge', 'RateLimited', 'Forbidden', 'Unauthenticated', 'NotFound', 'TemporaryFailure'],
  },
  async handler(app, req, _ctx, principal) {
    const user = await currentUser(app, principal);
    const draft = await ownDraft(app, user.id, req.params.id);
    const files = await draftFileContents(draft.attachments, app.blobs);
    const sent = await sendForUser(app, user, { from: { name: user.name, address: user.email }, fields: draft.fields, files });
    try {
      await app.store.deleteMessages(user.id, [draft.id]); // to Trash
      const { orphanedBlobKeys } = await app.store.deleteMessages(user.id, [draft.id]); // and for good
      await app.orphans.release(orphanedBlobKeys);
    } catch (err) {
      // the message is sent: a draft left behind is not worth a failure the client would retry
      app.logger.error({ err, draftId: draft.id }, 'sent, but the draft could not be removed');
    }
    return json(sent.status, sent.body);
  },
};
