import { z } from 'zod';
import { burnPasswordCheck, verifyPassword } from '../../core/auth';
import { MailError } from '../../core/errors';
import { json, readJson, type RouteDef } from '../http-kit';

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
  async handler(app, req) {
    const body = await readJson(req, LoginBody, app.limits.maxJsonBytes);
    const found = await app.store.getUserByEmail(body.email);
    const ok = found ? await verifyPassword(body.password, found.passwordHash) : await burnPasswordCheck(body.password);
    if (!found || !ok) throw new MailError('InvalidCredentials');
    const { passwordHash: _secret, ...user } = found;
    return json(200, { ...app.tokens.issue(user), user });
  },
};
