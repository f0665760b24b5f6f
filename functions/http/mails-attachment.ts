import { MailError } from '../../core/errors';
import { parseFull } from '../../core/mime';
import { contentDisposition, safeContentType, type RouteDef } from '../http-kit';
import { loadOwnMessage } from './mail-view';

/** GET /api/mails/{id}/attachments/{attachmentId}: the decoded attachment, always as a download. */
export const mailsAttachment: RouteDef = {
  name: 'mails-attachment',
  methods: ['GET'],
  route: 'mails/{id}/attachments/{attachmentId}',
  auth: 'user',
  doc: { summary: 'Download one attachment', success: { status: 200, description: "The attachment's bytes" }, errors: ['Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const { raw } = await loadOwnMessage(app, principal!.sub, req.params.id);
    const full = await parseFull(raw);
    const attachment = full.attachments.find((a) => a.id === req.params.attachmentId);
    if (!attachment) throw new MailError('NotFound', 'Attachment not found');
    return {
      status: 200,
      body: attachment.content,
      headers: {
        'content-type': safeContentType(attachment.contentType),
        'content-length': String(attachment.content.length),
        // attachment, never inline: an HTML attachment must not run as our origin
        'content-disposition': contentDisposition('attachment', attachment.filename, `attachment-${attachment.id}`),
        'x-content-type-options': 'nosniff',
      },
    };
  },
};
