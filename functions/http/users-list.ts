import { json, requireAdmin, type RouteDef } from '../http-kit';

/** GET /api/users (admin): every user with its aliases. */
export const usersList: RouteDef = {
  name: 'users-list',
  methods: ['GET'],
  route: 'users',
  auth: 'user',
  doc: { summary: 'Admin: every user with its aliases', success: { status: 200, description: '{items}' }, errors: ['Unauthenticated', 'Forbidden'] },
  async handler(app, _req, _ctx, principal) {
    requireAdmin(principal);
    return json(200, { items: await app.store.listUsers() });
  },
};
