import { json, type RouteDef } from '../http-kit';
import { setupAllowed } from './setup';

/**
 * GET /api/setup: whether first-run setup is still to be done (no users yet), and whether
 * this caller would need the setup code for it (not from this machine), so a client can
 * offer the setup page with or without the code field.
 */
export const setupStatus: RouteDef = {
  name: 'setup-status',
  methods: ['GET'],
  route: 'setup',
  auth: 'none',
  doc: { summary: 'Whether first-run setup is still needed, and whether this caller needs the setup code', success: { status: 200, description: '{needed, codeNeeded}' }, errors: [] },
  async handler(app, req) {
    const needed = (await app.store.countUsers()) === 0;
    return json(200, { needed, codeNeeded: needed && !setupAllowed(app, req, undefined) });
  },
};
