import { z } from 'zod';
import { MailError } from '../../core/errors';
import { clientIp, readJson, type RouteDef } from '../http-kit';
import { Password } from './schemas';

const Body = z.object({ currentPassword: z.string().min(1).max(200), newPassword: Password });

/** POST /api/auth/password: change one's own password; the current one is required. */
export const authPassword: RouteDef = {
  name: 'auth-password',
  methods: ['POST'],
  route: 'auth/password',
  auth: 'user',
  doc: { summary: "Change one's own password", body: Body, success: { status: 204, description: 'Changed' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'Forbidden', 'RateLimited'] },
  async handler(app, req, _ctx, principal) {
    const body = await readJson(req, Body, app.limits.maxJsonBytes);
    const user = await app.store.getUserByEmail(principal!.email);
    if (!user || user.id !== principal!.sub) throw new MailError('Unauthenticated');
    // a stolen token must not become a way to guess the password: the login limits apply
    const outcome = await app.loginGuard.attempt(user.email, clientIp(req), () => app.passwords.verify(body.currentPassword, user.passwordHash));
    if (outcome !== 'ok') throw new MailError('Forbidden', 'Current password is wrong');
    await app.store.setPasswordHash(user.id, await app.passwords.hash(body.newPassword));
    return { status: 204 };
  },
};
