import { z } from 'zod';
import { audit, clientIp, readJson, requireAdmin, type RouteDef } from '../http-kit';
import { Password } from './schemas';

const Body = z.object({ password: Password });

/** POST /api/users/{id}/password (admin): sets a user's password; every token the user holds stops working. */
export const usersPassword: RouteDef = {
  name: 'users-password',
  methods: ['POST'],
  route: 'users/{id}/password',
  auth: 'user',
  doc: { summary: "Admin: reset a user's password (revokes the user's tokens)", body: Body, success: { status: 204, description: 'Reset' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'Forbidden', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const admin = requireAdmin(principal);
    const { password } = await readJson(req, Body, app.limits.maxJsonBytes);
    const userId = req.params.id ?? '';
    await app.store.setPasswordHash(userId, await app.passwords.hash(password));
    audit(app, 'user.password-reset', { userId, by: admin.sub, ip: clientIp(req) });
    return { status: 204 };
  },
};
