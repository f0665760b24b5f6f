import { saveDraft } from '../../core/drafts';
import { MailError } from '../../core/errors';
import { json, removeBlobs, type RouteDef, currentUser } from '../http-kit';
import { draftView, ownDraft } from './draft-view';

/** DELETE /api/mails/{id}/attachments/{attachmentId}: remove a file from a draft (ids as the draft lists them). */
export const mailsAttachmentRemove: RouteDef = {
  name: 'mails-attachment-remove',
  methods: ['DELETE'],
  route: 'mails/{id}/attachments/{attachmentId}',
  auth: 'user',
  doc: { summary: 'Remove a file from a draft', success: { status: 200, description: 'The draft' }, errors: ['Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const user = await currentUser(app, principal);
    const draft = await ownDraft(app, user.id, req.params.id);
    const gone = draft.attachments.find((a) => a.id === req.params.attachmentId);
    if (!gone) throw new MailError('NotFound', 'Attachment not found');
    const attachments = draft.attachments.filter((a) => a !== gone);
    const message = await saveDraft(app, user, draft.id, draft.fields, attachments);
    await removeBlobs(app, [gone.blobKey]);
    return json(200, draftView(message, { ...draft, attachments }));
  },
};
