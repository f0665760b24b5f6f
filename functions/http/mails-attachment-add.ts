import { requireIfMatch, updateDraft } from '../../core/drafts';
import { MailError } from '../../core/errors';
import { blobKeys } from '../../core/blob-keys';
import { newId } from '../../core/ids';
import type { DraftAttachment } from '../../core/types';
import { ifMatch, safeContentType, type RouteDef, currentUser } from '../http-kit';
import { draftResponse, ownDraft } from './draft-view';

/**
 * POST /api/mails/{id}/attachments (multipart/form-data, one or more `file` fields):
 * attach files to a draft. Over the per-file or per-draft limit is 413 and nothing
 * is stored. With If-Match, 412 when the draft was saved since.
 */
export const mailsAttachmentAdd: RouteDef = {
  name: 'mails-attachment-add',
  methods: ['POST'],
  route: 'mails/{id}/attachments',
  auth: 'user',
  bodyLimit: 'upload',
  doc: {
    summary: 'Attach files to a draft (multipart/form-data, field "file")',
    success: { status: 201, description: 'The draft (ETag: its new version)' },
    errors: ['ValidationFailed', 'PayloadTooLarge', 'Unauthenticated', 'NotFound', 'PreconditionFailed'],
    etag: { ifMatch: true },
  },
  async handler(app, req, _ctx, principal) {
    const user = await currentUser(app, principal);
    const expected = ifMatch(req);
    const draft = await ownDraft(app, user.id, req.params.id);
    requireIfMatch(expected, draft); // before any file is stored
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
    const fits = (existing: Array<{ size: number }>) => [...existing, ...files].reduce((sum, f) => sum + f.size, 0) <= Math.floor((app.limits.maxMessageBytes * 3) / 4);
    if (!fits(draft.attachments)) throw new MailError('PayloadTooLarge', 'The draft would be larger than the message size limit');

    const added: DraftAttachment[] = [];
    try {
      for (const file of files) {
        const blobKey = blobKeys.draftFile(newId());
        const bytes = Buffer.from(await file.arrayBuffer());
        await app.blobs.put(blobKey, bytes);
        // the name is kept as given: it is data, never a path; it is cleaned where it is served
        added.push({ id: `f${newId()}`, filename: file.name || 'attachment', contentType: safeContentType(file.type), size: bytes.length, blobKey });
      }
      // onto the draft as it is when saved: a file another request added meanwhile stays
      const saved = await updateDraft(app, user, draft.id, expected, (current) => {
        if (!fits(current.attachments)) throw new MailError('PayloadTooLarge', 'The draft would be larger than the message size limit');
        return { fields: current.fields, attachments: [...current.attachments, ...added] };
      });
      return draftResponse(201, saved.message, saved.draft);
    } catch (err) {
      await app.orphans.release(added.map((a) => a.blobKey));
      throw err;
    }
  },
};
