import { z } from 'zod';
import { json, readJson, type RouteDef } from '../http-kit';
import { IdList } from './schemas';

const BulkBody = z.object({ ids: IdList });

/** DELETE /api/mails with `{ids}`: the same for many; ids not found are listed. */
export const mailsBulkDelete: RouteDef = {
  name: 'mails-bulk-delete',
  methods: ['DELETE'],
  route: 'mails',
  auth: 'user',
  doc: { summary: 'Delete many messages (to Trash; from Trash for good)', body: BulkBody, success: { status: 200, description: '{trashed, deleted, notFound}' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated'] },
  async handler(app, req, _ctx, principal) {
    const { ids } = await readJson(req, BulkBody, app.limits.maxJsonBytes);
    const result = await app.store.deleteMessages(principal!.sub, ids);
    await app.orphans.release(result.orphanedBlobKeys);
    const done = new Set([...result.trashed, ...result.deleted]);
    return json(200, { trashed: result.trashed, deleted: result.deleted, notFound: ids.filter((id) => !done.has(id)) });
  },
};
