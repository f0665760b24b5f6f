import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { domainOf } from '../../core/address';
import { generateDkimKey } from '../../core/dkim';
import { MailError } from '../../core/errors';
import { audit, clientIp, isLoopback, json, readJson, type RouteDef } from '../http-kit';
import type { HttpRequest } from '@azure/functions';
import type { AppContext } from '../app-context';
import { DisplayName, Domain, Email, Password } from './schemas';

const SetupBody = z.object({
  domain: Domain,
  email: Email,
  password: Password,
  name: DisplayName,
  /** The one-time code `npm start` prints (or NIMBUS_SETUP_TOKEN in the Azure shape); not needed from this machine in the local shape. */
  setupCode: z.string().max(200).optional(),
});

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whoever reaches setup first becomes admin, so it is not open to the world: the
 * local host accepts it from this machine (a request that came through a proxy does
 * not count as this machine) or with the code it printed at start; the Azure shape
 * only with NIMBUS_SETUP_TOKEN.
 */
export function setupAllowed(app: AppContext, req: HttpRequest, code: string | undefined): boolean {
  if (code !== undefined && app.setup.code && sameSecret(code, app.setup.code)) return true;
  const proxied = ['forwarded', 'x-real-ip', 'x-original-forwarded-for', 'x-nimbus-via-proxy'].some((h) => req.headers.get(h) !== null);
  return app.setup.fromLoopback && !proxied && isLoopback(clientIp(req));
}

/** POST /api/setup: first run only: the first hosted domain and its admin. */
export const setup: RouteDef = {
  name: 'setup',
  methods: ['POST'],
  route: 'setup',
  auth: 'none',
  doc: { summary: 'First run only: create the first hosted domain and its admin (from this machine, or with the setup code)', body: SetupBody, success: { status: 201, description: 'The admin and a token; GET /api/domains/{domain} then tells the DNS records to publish' }, errors: ['ValidationFailed', 'MalformedJson', 'AlreadySetUp', 'SetupNotAllowed'] },
  async handler(app, req) {
    const body = await readJson(req, SetupBody, app.limits.maxJsonBytes);
    if (!setupAllowed(app, req, body.setupCode)) {
      audit(app, 'setup.refused', { ip: clientIp(req) });
      throw new MailError('SetupNotAllowed');
    }
    if (domainOf(body.email) !== body.domain) {
      throw new MailError('ValidationFailed', `email: must be an address at ${body.domain}`, { details: { field: 'email' } });
    }
    if ((await app.store.countUsers()) > 0) throw new MailError('AlreadySetUp');
    // the first domain gets its DKIM key like any other (SendGrid's records, when it sends, come with its first check)
    const [passwordHash, dkim] = await Promise.all([app.passwords.hash(body.password), generateDkimKey()]);
    const user = await app.store.setup({ domain: body.domain, email: body.email, name: body.name, passwordHash, dkim });
    app.setup.code = null; // one time
    audit(app, 'setup', { domain: body.domain, userId: user.id, ip: clientIp(req) });
    return json(201, { user, ...app.tokens.issue(user, 0) });
  },
};
