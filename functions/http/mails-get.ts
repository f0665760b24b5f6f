import { draftEtag, isDraftMessage } from '../../core/drafts';
import { readMessageView } from '../../core/message-reader';
import { json, type RouteDef } from '../http-kit';
import { draftFiles } from './draft-view';
import { authView, openOwnMessage, toListItem } from './mail-view';
import { deliveryView } from './send-kit';

/**
 * GET /api/mails/{id}: headers, text, html (each up to a limit, flagged when cut),
 * attachment list, auth results; a draft adds its fields and files, and its ETag.
 */
export const mailsGet: RouteDef = {
  name: 'mails-get',
  methods: ['GET'],
  route: 'mails/{id}',
  auth: 'user',
  doc: { summary: 'One message: headers, text, html, attachments, auth results; a sent message also each recipient\'s delivery', success: { status: 200, description: 'The message' }, errors: ['Unauthenticated', 'NotFound'], etag: { ifMatch: false, drafts: true } },
  async handler(app, req, _ctx, principal) {
    const { message, raw } = await openOwnMessage(app, principal!.sub, req.params.id);
    const view = await readMessageView(raw);
    // a draft also shows what it is composed from, and its version as the ETag for the next If-Match
    const draft = isDraftMessage(message) ? await app.store.getDraft(principal!.sub, message.id) : null;
    return json(200, {
      ...toListItem(message),
      subject: view.summary.subject,
      from: view.summary.from,
      to: view.summary.to,
      cc: view.summary.cc,
      replyTo: view.replyTo,
      messageId: view.summary.messageId,
      inReplyTo: view.inReplyTo,
      references: view.references,
      headers: view.headers.map((h) => ({ name: h.key, value: h.line.slice(h.line.indexOf(':') + 1).trim() })),
      text: view.text,
      html: view.html,
      textTruncated: view.textTruncated,
      htmlTruncated: view.htmlTruncated,
      attachments: view.attachments,
      auth: authView(message),
      ...(view.parseError ? { parseError: view.parseError } : {}),
      ...(draft ? { draft: draft.fields, draftAttachments: draftFiles(draft) } : {}),
      ...(message.delivery ? { delivery: message.delivery.map(deliveryView) } : {}),
    }, draft ? { etag: draftEtag(draft.version) } : {});
  },
};
