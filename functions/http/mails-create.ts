import { saveDraft } from '../../core/drafts';
import { MailError } from '../../core/errors';
import { json, readJson, type RouteDef } from '../http-kit';
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
    const user = await app.store.getUserById(principal!.sub);
    if (!user) throw new MailError('Unauthenticated');
    const message = await saveDraft(app, user, null, fields, []);
    return json(201, draftView(message, { id: message.id, fields, attachments: [] }));
  },
};
