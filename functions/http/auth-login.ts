import { z } from 'zod';
import { isMailError, MailError } from '../../core/errors';
import type { UserWithSecret } from '../../core/types';
import { audit, clientIp, json, readJson, type RouteDef } from '../http-kit';

const LoginBody = z.object({
  email: z.string().trim().min(1).max(320),
  password: z.string().min(1).max(200),
});

/** POST /api/auth/login → {token, expiresAt, user}. One answer for unknown user and wrong password. */
export const authLogin: RouteDef = {
  name: 'auth-login',
  methods: ['POST'],
  route: 'auth/login',
  auth: 'none',
  doc: { summary: 'Sign in; returns a bearer token', body: LoginBody, success: { status: 200, description: 'Token, expiry and user' }, errors: ['ValidationFailed', 'MalformedJson', 'InvalidCredentials', 'RateLimited'] },
  async handler(app, req) {
    const body = await readJson(req, LoginBody, app.limits.maxJsonBytes);
    const account = body.email.toLowerCase();
    const ip = clientIp(req);
    // the attempt is reserved before the lookup and the hash: a blocked account or address learns nothing from trying
    const seen: { user: UserWithSecret | null } = { user: null };
    const outcome = await app.loginGuard
      .attempt(account, ip, async () => {
        seen.user = await app.store.getUserByEmail(account);
        if (seen.user) return app.passwords.verify(body.password, seen.user.passwordHash);
        await app.passwords.burn(body.password); // the same time as a wrong password: no one learns who exists
        return false;
      })
      .catch((err) => {
        if (isMailError(err) && err.code === 'RateLimited') audit(app, 'login.locked-out', { account, ip });
        throw err;
      });
    if (outcome !== 'ok' || !seen.user) {
      audit(app, 'login.failed', { account, ip });
      throw new MailError('InvalidCredentials');
    }
    const { passwordHash: _secret, tokenVersion, ...user } = seen.user;
    audit(app, 'login', { userId: user.id, ip });
    return json(200, { ...app.tokens.issue(user, tokenVersion), user });
  },
};
