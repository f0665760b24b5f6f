import { parseFull } from '../../core/mime';
import { json, type RouteDef } from '../http-kit';
import { loadOwnMessage, toListItem } from './mail-view';

/** GET /api/mails/{id}: headers, text, html, attachment list, auth results. */
export const mailsGet: RouteDef = {
  name: 'mails-get',
  methods: ['GET'],
  route: 'mails/{id}',
  auth: 'user',
  doc: { summary: 'One message: headers, text, html, attachments, auth results', success: { status: 200, description: 'The message' }, errors: ['Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const { message, raw } = await loadOwnMessage(app, principal!.sub, req.params.id);
    const full = await parseFull(raw);
    return json(200, {
      ...toListItem(message),
      subject: full.summary.subject,
      from: full.summary.from,
      to: full.summary.to,
      cc: full.summary.cc,
      replyTo: full.replyTo,
      messageId: full.summary.messageId,
      inReplyTo: full.inReplyTo,
      references: full.references,
      headers: full.headers.map((h) => ({ name: h.key, value: h.line.slice(h.line.indexOf(':') + 1).trim() })),
      text: full.text,
      html: full.html,
      attachments: full.attachments.map(({ content: _c, ...a }) => a),
      auth: message.auth,
    });
  },
};
