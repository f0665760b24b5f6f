import { json, type RouteDef } from '../http-kit';

/** GET /api/setup: whether first-run setup is still to be done (no users yet), so a client can offer it. */
export const setupStatus: RouteDef = {
  name: 'setup-status',
  methods: ['GET'],
  route: 'setup',
  auth: 'none',
  doc: { summary: 'Whether first-run setup is still needed', success: { status: 200, description: '{needed}' }, errors: [] },
  async handler(app) {
    return json(200, { needed: (await app.store.countUsers()) === 0 });
  },
};
