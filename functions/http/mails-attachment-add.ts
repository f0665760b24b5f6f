import { saveDraft } from '../../core/drafts';
import { MailError } from '../../core/errors';
import { newId } from '../../core/ids';
import type { DraftAttachment } from '../../core/types';
import { json, removeBlobs, safeContentType, type RouteDef, currentUser } from '../http-kit';
import { draftView, ownDraft } from './draft-view';

/**
 * POST /api/mails/{id}/attachments (multipart/form-data, one or more `file` fields):
 * attach files to a draft. Over the per-file or per-draft limit is 413 and nothing is stored.
 */
export const mailsAttachmentAdd: RouteDef = {
  name: 'mails-attachment-add',
  methods: ['POST'],
  route: 'mails/{id}/attachments',
  auth: 'user',
  bodyLimit: 'upload',
  doc: {
    summary: 'Attach files to a draft (multipart/form-data, field "file")',
    success: { status: 201, description: 'The draft' },
    errors: ['ValidationFailed', 'PayloadTooLarge', 'Unauthenticated', 'NotFound'],
  },
  async handler(app, req, _ctx, principal) {
    const user = await currentUser(app, principal);
    const draft = await ownDraft(app, user.id, req.params.id);
    let form: Awaited<ReturnType<typeof req.formData>>;
    try {
      form = await req.formData();
    } catch {
      throw new MailError('ValidationFailed', 'body: must be multipart/form-data with "file" fields', { details: { field: 'file' } });
    }
    type Upload = { name: string; type: string; size: number; arrayBuffer(): Promise<ArrayBuffer> };
    const files = form.getAll('file').filter((f) => typeof f !== 'string') as unknown as Upload[];
    if (files.length === 0) throw new MailError('ValidationFailed', 'file: at least one file is required', { details: { field: 'file' } });
    const tooBig = files.find((f) => f.size > app.limits.maxAttachmentBytes);
    if (tooBig) throw new MailError('PayloadTooLarge', `A file is larger than ${app.limits.maxAttachmentBytes} bytes`);
    const total = [...draft.attachments, ...files].reduce((sum, f) => sum + f.size, 0);
    if (total > Math.floor((app.limits.maxMessageBytes * 3) / 4)) throw new MailError('PayloadTooLarge', 'The draft would be larger than the message size limit');

    const added: DraftAttachment[] = [];
    try {
      for (const file of files) {
        const blobKey = `att/${newId()}`;
        const bytes = Buffer.from(await file.arrayBuffer());
        await app.blobs.put(blobKey, bytes);
        // the name is kept as given: it is data, never a path; it is cleaned where it is served
        added.push({ id: `f${newId()}`, filename: file.name || 'attachment', contentType: safeContentType(file.type), size: bytes.length, blobKey });
      }
      const attachments = [...draft.attachments, ...added];
      const message = await saveDraft(app, user, draft.id, draft.fields, attachments);
      return json(201, draftView(message, { ...draft, attachments }));
    } catch (err) {
      await removeBlobs(app, added.map((a) => a.blobKey));
      throw err;
    }
  },
};
