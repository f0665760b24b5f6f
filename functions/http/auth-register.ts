import { z } from 'zod';
import { domainOf } from '../../core/address';
import { MailError } from '../../core/errors';
import { audit, clientIp, json, readJson, requireAdmin, type RouteDef } from '../http-kit';
import { DisplayName, Email, Password } from './schemas';

const Body = z.object({ email: Email, password: Password, name: DisplayName, role: z.enum(['user', 'admin']).default('user') });

/** POST /api/auth/register (admin): a user on a hosted domain, with its folders. */
export const authRegister: RouteDef = {
  name: 'auth-register',
  methods: ['POST'],
  route: 'auth/register',
  auth: 'user',
  doc: { summary: 'Admin: create a user on a hosted domain', body: Body, success: { status: 201, description: 'The user' }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'Forbidden', 'DomainNotHosted', 'Conflict'] },
  async handler(app, req, _ctx, principal) {
    const admin = requireAdmin(principal);
    const body = await readJson(req, Body, app.limits.maxJsonBytes);
    if (!(await app.store.getDomain(domainOf(body.email)))) throw new MailError('DomainNotHosted', `email: ${domainOf(body.email)} is not hosted here`, { details: { field: 'email' } });
    const user = await app.store.createUser({ email: body.email, name: body.name, role: body.role, passwordHash: await app.passwords.hash(body.password) });
    audit(app, 'user.created', { userId: user.id, email: user.email, role: user.role, by: admin.sub, ip: clientIp(req) });
    return json(201, { ...user, aliases: [] });
  },
};
