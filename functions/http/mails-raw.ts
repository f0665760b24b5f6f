import { MailError } from '../../core/errors';
import type { RouteDef } from '../http-kit';
import { ownMessage } from './mail-view';

/** GET /api/mails/{id}/raw: the stored RFC 5322 bytes, streamed. */
export const mailsRaw: RouteDef = {
  name: 'mails-raw',
  methods: ['GET'],
  route: 'mails/{id}/raw',
  auth: 'user',
  doc: { summary: 'The stored RFC 5322 source', success: { status: 200, description: 'message/rfc822' }, errors: ['Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const message = await ownMessage(app, principal!.sub, req.params.id);
    const stream = await app.blobs.get(message.rawBlobKey);
    if (!stream) throw new MailError('TemporaryFailure', 'Message body is unavailable');
    return {
      status: 200,
      body: stream,
      headers: {
        'content-type': 'message/rfc822',
        'content-length': String(message.size),
        'content-disposition': `attachment; filename="${message.id}.eml"`,
      },
    };
  },
};
