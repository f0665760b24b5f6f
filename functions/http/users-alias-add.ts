import { z } from 'zod';
import { domainOf } from '../../core/address';
import { MailError } from '../../core/errors';
import { audit, clientIp, json, readJson, requireAdmin, type RouteDef } from '../http-kit';
import { Email } from './schemas';

const Body = z.object({ address: Email });

/** POST /api/users/{id}/aliases (admin): another address on a hosted domain that delivers to this user. */
export const usersAliasAdd: RouteDef = {
  name: 'users-alias-add',
  methods: ['POST'],
  route: 'users/{id}/aliases',
  auth: 'user',
  doc: { summary: 'Admin: add an alias address to a user', body: Body, success: { status: 201, description: "The user's aliases" }, errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'Forbidden', 'DomainNotHosted', 'Conflict', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const admin = requireAdmin(principal);
    const { address } = await readJson(req, Body, app.limits.maxJsonBytes);
    if (!(await app.store.getDomain(domainOf(address)))) throw new MailError('DomainNotHosted', `address: ${domainOf(address)} is not hosted here`, { details: { field: 'address' } });
    const userId = req.params.id ?? '';
    await app.store.addAlias(userId, address);
    audit(app, 'alias.added', { userId, address, by: admin.sub, ip: clientIp(req) });
    return json(201, { userId, aliases: await app.store.listAliases(userId) });
  },
};
