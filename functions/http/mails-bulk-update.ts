import { z } from 'zod';
import { json, readJson, type RouteDef } from '../http-kit';
import { toListItem } from './mail-view';
import { IdList, MessagePatch, toStorePatch } from './schemas';

const BulkBody = z.object({ ids: IdList }).and(MessagePatch);

/** PATCH /api/mails: the same change for many messages, `{ids, seen?, flagged?, mailbox?}`; ids not found are listed. */
export const mailsBulkUpdate: RouteDef = {
  name: 'mails-bulk-update',
  methods: ['PATCH'],
  route: 'mails',
  auth: 'user',
  doc: { summary: 'Set flags on or move many messages', body: BulkBody, success: { status: 200, description: '{items, notFound}' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const body = await readJson(req, BulkBody, app.limits.maxJsonBytes);
    const updated = await app.store.updateMessages(principal!.sub, body.ids, toStorePatch(body));
    const found = new Set(updated.map((m) => m.id));
    return json(200, { items: updated.map(toListItem), notFound: body.ids.filter((id) => !found.has(id)) });
  },
};
