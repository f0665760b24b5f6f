import { saveDraft } from '../../core/drafts';
import { readJson, type RouteDef, currentUser } from '../http-kit';
import { draftResponse } from './draft-view';
import { DraftBody } from './schemas';

/** POST /api/mails: a new draft in Drafts, composed from the user's own address. */
export const mailsCreate: RouteDef = {
  name: 'mails-create',
  methods: ['POST'],
  route: 'mails',
  auth: 'user',
  doc: { summary: 'Create a draft', body: DraftBody, success: { status: 201, description: 'The draft (ETag: its version)' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated'], etag: { ifMatch: false } },
  async handler(app, req, _ctx, principal) {
    const fields = await readJson(req, DraftBody, app.limits.maxJsonBytes);
    const user = await currentUser(app, principal);
    const { message, version } = await saveDraft(app, user, null, fields, []);
    return draftResponse(201, message, { id: message.id, fields, attachments: [], version });
  },
};
