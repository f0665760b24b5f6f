import type { RouteDef } from '../http-kit';
import { openOwnMessage } from './mail-view';

/** GET /api/mails/{id}/raw: the stored RFC 5322 bytes, streamed. */
export const mailsRaw: RouteDef = {
  name: 'mails-raw',
  methods: ['GET'],
  route: 'mails/{id}/raw',
  auth: 'user',
  doc: { summary: 'The stored RFC 5322 source', success: { status: 200, description: 'message/rfc822' }, errors: ['Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const { message, raw } = await openOwnMessage(app, principal!.sub, req.params.id);
    return {
      status: 200,
      body: raw,
      headers: {
        'content-type': 'message/rfc822',
        'content-length': String(message.size),
        'content-disposition': `attachment; filename="${message.id}.eml"`,
      },
    };
  },
};
