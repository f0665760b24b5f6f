import { updateDraft } from '../../core/drafts';
import { ifMatch, readJson, type RouteDef, currentUser } from '../http-kit';
import { draftResponse } from './draft-view';
import { DraftBody } from './schemas';

/**
 * PUT /api/mails/{id}: replace a draft's fields (its files stay). Only drafts;
 * anything else is 404. With If-Match, 412 when the draft was saved since.
 */
export const mailsReplace: RouteDef = {
  name: 'mails-replace',
  methods: ['PUT'],
  route: 'mails/{id}',
  auth: 'user',
  doc: { summary: "Update a draft's fields (If-Match: its ETag)", body: DraftBody, success: { status: 200, description: 'The draft (ETag: its new version)' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'NotFound', 'PreconditionFailed'], etag: { ifMatch: true } },
  async handler(app, req, _ctx, principal) {
    const fields = await readJson(req, DraftBody, app.limits.maxJsonBytes);
    const user = await currentUser(app, principal);
    const { message, draft } = await updateDraft(app, user, req.params.id ?? '', ifMatch(req), (current) => ({ fields, attachments: current.attachments }));
    return draftResponse(200, message, draft);
  },
};
