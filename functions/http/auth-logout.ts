import { audit, clientIp, type RouteDef } from '../http-kit';

/** POST /api/auth/logout: signs this token out (other sessions of the user stay signed in). */
export const authLogout: RouteDef = {
  name: 'auth-logout',
  methods: ['POST'],
  route: 'auth/logout',
  auth: 'user',
  doc: { summary: 'Sign this token out', success: { status: 204, description: 'The token no longer works' }, errors: ['Unauthenticated'] },
  async handler(app, req, _ctx, principal) {
    await app.store.revokeToken(principal!.sub, principal!.jti, principal!.exp * 1000);
    audit(app, 'logout', { userId: principal!.sub, ip: clientIp(req) });
    return { status: 204 };
  },
};
