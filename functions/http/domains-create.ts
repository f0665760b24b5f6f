import { z } from 'zod';
import { json, readJson, requireAdmin, type RouteDef } from '../http-kit';
import { toDomainView } from './domain-view';

/** The name as typed: U- or A-labels; core/domain-name.ts says what is refused and why. */
const DomainBody = z.object({ name: z.string().max(1000) });

/** POST /api/domains (admin): adds a domain, makes its DKIM key, answers the records to publish. */
export const domainsCreate: RouteDef = {
  name: 'domains-create',
  methods: ['POST'],
  route: 'domains',
  auth: 'user',
  doc: {
    summary: 'Admin: add a domain (IDN allowed); answers the DNS records to publish, with exact values',
    body: DomainBody,
    success: { status: 201, description: 'The domain, status pending' },
    errors: ['ValidationFailed', 'MalformedJson', 'Unauthenticated', 'Forbidden', 'Conflict', 'TemporaryFailure'],
  },
  async handler(app, req, _ctx, principal) {
    requireAdmin(principal);
    const body = await readJson(req, DomainBody, app.limits.maxJsonBytes);
    return json(201, toDomainView(app, await app.domains.create(body.name)));
  },
};
