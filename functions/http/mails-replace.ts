import { saveDraft } from '../../core/drafts';
import { json, readJson, type RouteDef, currentUser } from '../http-kit';
import { draftView, ownDraft } from './draft-view';
import { DraftBody } from './schemas';

/** PUT /api/mails/{id}: replace a draft's fields (its files stay). Only drafts; anything else is 404. */
export const mailsReplace: RouteDef = {
  name: 'mails-replace',
  methods: ['PUT'],
  route: 'mails/{id}',
  auth: 'user',
  doc: { summary: "Update a draft's fields", body: DraftBody, success: { status: 200, description: 'The draft' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const fields = await readJson(req, DraftBody, app.limits.maxJsonBytes);
    const user = await currentUser(app, principal);
    const draft = await ownDraft(app, user.id, req.params.id);
    const message = await saveDraft(app, user, draft.id, fields, draft.attachments);
    return json(200, draftView(message, { ...draft, fields }));
  },
};
