import { audit, clientIp, requireAdmin, type RouteDef } from '../http-kit';

/** DELETE /api/users/{id}/aliases/{address} (admin). The primary address is not an alias. */
export const usersAliasRemove: RouteDef = {
  name: 'users-alias-remove',
  methods: ['DELETE'],
  route: 'users/{id}/aliases/{address}',
  auth: 'user',
  doc: { summary: 'Admin: remove an alias address', success: { status: 204, description: 'Removed' }, errors: ['Unauthenticated', 'Forbidden', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    const admin = requireAdmin(principal);
    await app.store.removeAlias(req.params.id ?? '', req.params.address ?? '');
    audit(app, 'alias.removed', { userId: req.params.id, address: req.params.address, by: admin.sub, ip: clientIp(req) });
    return { status: 204 };
  },
};
