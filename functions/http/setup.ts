import { z } from 'zod';
import { domainOf } from '../../core/address';
import { MailError } from '../../core/errors';
import { json, readJson, type RouteDef } from '../http-kit';
import { DisplayName, Domain, Email, Password } from './schemas';

const SetupBody = z.object({ domain: Domain, email: Email, password: Password, name: DisplayName });

/** POST /api/setup: first run only: the first hosted domain and its admin. */
export const setup: RouteDef = {
  name: 'setup',
  methods: ['POST'],
  route: 'setup',
  auth: 'none',
  doc: { summary: 'First run only: create the first hosted domain and its admin', body: SetupBody, success: { status: 201, description: 'The admin and a token' }, errors: ['ValidationFailed', 'MalformedJson', 'AlreadySetUp'] },
  async handler(app, req) {
    const body = await readJson(req, SetupBody, app.limits.maxJsonBytes);
    if (domainOf(body.email) !== body.domain) {
      throw new MailError('ValidationFailed', `email: must be an address at ${body.domain}`, { details: { field: 'email' } });
    }
    if ((await app.store.countUsers()) > 0) throw new MailError('AlreadySetUp');
    const user = await app.store.setup({ domain: body.domain, email: body.email, name: body.name, passwordHash: await app.passwords.hash(body.password) });
    app.logger.info({ domain: body.domain, user: user.email }, 'first-run setup done');
    return json(201, { user, ...app.tokens.issue(user) });
  },
};
