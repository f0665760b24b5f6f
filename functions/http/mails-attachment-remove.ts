import { updateDraft } from '../../core/drafts';
import { MailError } from '../../core/errors';
import type { DraftAttachment } from '../../core/types';
import { ifMatch, type RouteDef, currentUser } from '../http-kit';
import { draftResponse } from './draft-view';

/**
 * DELETE /api/mails/{id}/attachments/{attachmentId}: remove a file from a draft (ids
 * as the draft lists them). With If-Match, 412 when the draft was saved since.
 */
export const mailsAttachmentRemove: RouteDef = {
  name: 'mails-attachment-remove',
  methods: ['DELETE'],
  route: 'mails/{id}/attachments/{attachmentId}',
  auth: 'user',
  doc: { summary: 'Remove a file from a draft (If-Match: its ETag)', success: { status: 200, description: 'The draft (ETag: its new version)' }, errors: ['Unauthenticated', 'NotFound', 'PreconditionFailed'], etag: { ifMatch: true } },
  async handler(app, req, _ctx, principal) {
    const user = await currentUser(app, principal);
    let gone: DraftAttachment | undefined;
    const { message, draft } = await updateDraft(app, user, req.params.id ?? '', ifMatch(req), (current) => {
      gone = current.attachments.find((a) => a.id === req.params.attachmentId);
      if (!gone) throw new MailError('NotFound', 'Attachment not found');
      return { fields: current.fields, attachments: current.attachments.filter((a) => a !== gone) };
    });
    await app.orphans.release([gone!.blobKey]);
    return draftResponse(200, message, draft);
  },
};
