import { json, requireAdmin, type RouteDef } from '../http-kit';
import { domainFromPath, toDomainView } from './domain-view';

/** POST /api/domains/{name}/verify (admin): checks DNS now and answers the domain after the check. */
export const domainsVerify: RouteDef = {
  name: 'domains-verify',
  methods: ['POST'],
  route: 'domains/{name}/verify',
  auth: 'user',
  doc: { summary: 'Admin: check the domain\'s DNS now; answers the domain after the check', success: { status: 200, description: 'The domain, checked' }, errors: ['Unauthenticated', 'Forbidden', 'NotFound', 'TemporaryFailure'] },
  async handler(app, req, _ctx, principal) {
    requireAdmin(principal);
    const domain = await domainFromPath(app, req.params.name);
    return json(200, toDomainView(app, await app.domains.checkNow(domain.name)));
  },
};
