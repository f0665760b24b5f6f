import { requireAdmin, type RouteDef } from '../http-kit';
import { domainFromPath } from './domain-view';

/** DELETE /api/domains/{name} (admin): only once no user or alias is on it (409 says how many are). */
export const domainsDelete: RouteDef = {
  name: 'domains-delete',
  methods: ['DELETE'],
  route: 'domains/{name}',
  auth: 'user',
  doc: { summary: 'Admin: remove a domain that has no users or aliases left', success: { status: 204, description: 'Removed' }, errors: ['Unauthenticated', 'Forbidden', 'NotFound', 'Conflict'] },
  async handler(app, req, _ctx, principal) {
    requireAdmin(principal);
    const domain = await domainFromPath(app, req.params.name);
    await app.domains.remove(domain.name);
    return { status: 204 };
  },
};
