import { json, type RouteDef, currentUser } from '../http-kit';

/** GET /api/auth/me: the signed-in user with its aliases. */
export const authMe: RouteDef = {
  name: 'auth-me',
  methods: ['GET'],
  route: 'auth/me',
  auth: 'user',
  doc: { summary: 'The signed-in user with its aliases', success: { status: 200, description: 'The user' }, errors: ['Unauthenticated'] },
  async handler(app, _req, _ctx, principal) {
    const user = await currentUser(app, principal);
    return json(200, { ...user, aliases: await app.store.listAliases(user.id) });
  },
};
