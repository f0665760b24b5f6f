import { z } from 'zod';
import { json, readJson, type RouteDef } from '../http-kit';
import { FolderName } from './schemas';

const Body = z.object({ name: FolderName });

/** POST /api/mailboxes: a custom folder. */
export const mailboxesCreate: RouteDef = {
  name: 'mailboxes-create',
  methods: ['POST'],
  route: 'mailboxes',
  auth: 'user',
  doc: { summary: 'Create a custom folder', body: Body, success: { status: 201, description: 'The folder' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'Conflict'] },
  async handler(app, req, _ctx, principal) {
    const { name } = await readJson(req, Body, app.limits.maxJsonBytes);
    const { userId: _u, ...mailbox } = await app.store.createMailbox(principal!.sub, name);
    return json(201, mailbox);
  },
};
