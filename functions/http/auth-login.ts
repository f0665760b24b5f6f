import { z } from 'zod';
import { MailError } from '../../core/errors';
import { clientIp, json, readJson, type RouteDef } from '../http-kit';

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
    // checked before the password: a blocked account or address learns nothing from trying
    const waitMs = Math.max(app.loginFailures.account.blockedFor(account), app.loginFailures.ip.blockedFor(ip));
    if (waitMs > 0) throw new MailError('RateLimited', undefined, { details: { retryAfterSeconds: Math.ceil(waitMs / 1000) } });
    const found = await app.store.getUserByEmail(account);
    const ok = found ? await app.passwords.verify(body.password, found.passwordHash) : await app.passwords.burn(body.password);
    if (!found || !ok) {
      app.loginFailures.account.fail(account);
      app.loginFailures.ip.fail(ip);
      throw new MailError('InvalidCredentials');
    }
    app.loginFailures.account.reset(account);
    const { passwordHash: _secret, ...user } = found;
    return json(200, { ...app.tokens.issue(user), user });
  },
};
