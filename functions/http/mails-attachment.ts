import { MailError } from '../../core/errors';
import { openAttachment } from '../../core/message-reader';
import { contentDisposition, safeContentType, type RouteDef } from '../http-kit';
import { openOwnMessage } from './mail-view';

/** GET /api/mails/{id}/attachments/{attachmentId}: the decoded attachment, streamed out of the raw message, always as a download. */
export const mailsAttachment: RouteDef = {
  name: 'mails-attachment',
  methods: ['GET'],
  route: 'mails/{id}/attachments/{attachmentId}',
  auth: 'user',
  doc: { summary: 'Download one attachment', success: { status: 200, description: "The attachment's bytes" }, errors: ['Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const { raw } = await openOwnMessage(app, principal!.sub, req.params.id);
    const attachment = await openAttachment(raw, req.params.attachmentId ?? '');
    if (!attachment) throw new MailError('NotFound', 'Attachment not found');
    return {
      status: 200,
      body: attachment.content,
      headers: {
        'content-type': safeContentType(attachment.info.contentType),
        // attachment, never inline: an HTML attachment must not run as our origin
        'content-disposition': contentDisposition('attachment', attachment.info.filename, `attachment-${attachment.info.id}`),
        'x-content-type-options': 'nosniff',
      },
    };
  },
};
