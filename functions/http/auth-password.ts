import { z } from 'zod';
import { MailError } from '../../core/errors';
import { audit, clientIp, json, readJson, type RouteDef } from '../http-kit';
import { Password } from './schemas';

const Body = z.object({ currentPassword: z.string().min(1).max(200), newPassword: Password });

/**
 * POST /api/auth/password: change one's own password; the current one is required.
 * Every token issued before is revoked; the answer carries a fresh one for this session.
 */
export const authPassword: RouteDef = {
  name: 'auth-password',
  methods: ['POST'],
  route: 'auth/password',
  auth: 'user',
  doc: { summary: "Change one's own password", body: Body, success: { status: 200, description: 'Changed; every older token is revoked: a new token and its expiry' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'Forbidden', 'RateLimited'] },
  async handler(app, req, _ctx, principal) {
    const body = await readJson(req, Body, app.limits.maxJsonBytes);
    const user = await app.store.getUserByEmail(principal!.email);
    if (!user || user.id !== principal!.sub) throw new MailError('Unauthenticated');
    const ip = clientIp(req);
    // a stolen token must not become a way to guess the password: the login limits apply
    const outcome = await app.loginGuard.attempt(user.email, ip, () => app.passwords.verify(body.currentPassword, user.passwordHash));
    if (outcome !== 'ok') {
      audit(app, 'password.change-failed', { userId: user.id, ip });
      throw new MailError('Forbidden', 'Current password is wrong');
    }
    const { tokenVersion } = await app.store.setPasswordHash(user.id, await app.passwords.hash(body.newPassword));
    audit(app, 'password.changed', { userId: user.id, ip });
    return json(200, app.tokens.issue(principal!.user, tokenVersion));
  },
};
