import { json, requireAdmin, type RouteDef } from '../http-kit';
import { toDomainView } from './domain-view';

/** GET /api/domains (admin): every hosted domain with its records and their status. */
export const domainsList: RouteDef = {
  name: 'domains-list',
  methods: ['GET'],
  route: 'domains',
  auth: 'user',
  doc: { summary: 'Admin: hosted domains, each with the DNS records to publish and their last check', success: { status: 200, description: '{items: [domain]}' }, errors: ['Unauthenticated', 'Forbidden'] },
  async handler(app, _req, _ctx, principal) {
    requireAdmin(principal);
    return json(200, { items: (await app.store.listDomains()).map((d) => toDomainView(app, d)) });
  },
};
