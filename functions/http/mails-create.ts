import { saveDraft } from '../../core/drafts';
import { json, readJson, type RouteDef, currentUser } from '../http-kit';
import { draftView } from './draft-view';
import { DraftBody } from './schemas';

/** POST /api/mails: a new draft in Drafts, composed from the user's own address. */
export const mailsCreate: RouteDef = {
  name: 'mails-create',
  methods: ['POST'],
  route: 'mails',
  auth: 'user',
  doc: { summary: 'Create a draft', body: DraftBody, success: { status: 201, description: 'The draft' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated'] },
  async handler(app, req, _ctx, principal) {
    const fields = await readJson(req, DraftBody, app.limits.maxJsonBytes);
    const user = await currentUser(app, principal);
    const message = await saveDraft(app, user, null, fields, []);
    return json(201, draftView(message, { id: message.id, fields, attachments: [] }));
  },
};
