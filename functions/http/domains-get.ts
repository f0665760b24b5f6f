import { json, requireAdmin, type RouteDef } from '../http-kit';
import { domainFromPath, toDomainView } from './domain-view';

/** GET /api/domains/{name} (admin): one domain, its records and their status. */
export const domainsGet: RouteDef = {
  name: 'domains-get',
  methods: ['GET'],
  route: 'domains/{name}',
  auth: 'user',
  doc: { summary: 'Admin: one domain with its DNS records and their last check', success: { status: 200, description: 'The domain' }, errors: ['Unauthenticated', 'Forbidden', 'NotFound'] },
  async handler(app, req, _ctx, principal) {
    requireAdmin(principal);
    return json(200, toDomainView(app, await domainFromPath(app, req.params.name)));
  },
};
