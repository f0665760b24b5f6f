import { z } from 'zod';
import { checkLogin } from '../../core/auth';
import { isMailError, MailError } from '../../core/errors';
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
    const found = await checkLogin(app, account, body.password, ip).catch((err) => {
      if (isMailError(err) && err.code === 'RateLimited') audit(app, 'login.locked-out', { account, ip });
      throw err;
    });
    if (!found) {
      audit(app, 'login.failed', { account, ip });
      throw new MailError('InvalidCredentials');
    }
    const { passwordHash: _secret, tokenVersion, ...user } = found;
    audit(app, 'login', { userId: user.id, ip });
    return json(200, { ...app.tokens.issue(user, tokenVersion), user });
  },
};
