import { z } from 'zod';
import { json, readJson, type RouteDef } from '../http-kit';
import { FolderName } from './schemas';

const Body = z.object({ name: FolderName });

/** PATCH /api/mailboxes/{id}: rename a custom folder. */
export const mailboxesUpdate: RouteDef = {
  name: 'mailboxes-update',
  methods: ['PATCH'],
  route: 'mailboxes/{id}',
  auth: 'user',
  doc: { summary: 'Rename a custom folder', body: Body, success: { status: 200, description: 'The folder' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'NotFound', 'Conflict', 'SpecialMailbox'] },
  async handler(app, req, _ctx, principal) {
    const { name } = await readJson(req, Body, app.limits.maxJsonBytes);
    const { userId: _u, ...mailbox } = await app.store.renameMailbox(principal!.sub, req.params.id ?? '', name);
    return json(200, mailbox);
  },
};
