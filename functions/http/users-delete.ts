import { MailError } from '../../core/errors';
import { audit, clientIp, requireAdmin, type RouteDef } from '../http-kit';

/** DELETE /api/users/{id} (admin): the user, its folders, messages and addresses. Not oneself. */
export const usersDelete: RouteDef = {
  name: 'users-delete',
  methods: ['DELETE'],
  route: 'users/{id}',
  auth: 'user',
  doc: { summary: 'Admin: remove a user with its folders, messages and addresses', success: { status: 204, description: 'Removed' }, errors: ['Unauthenticated', 'Forbidden', 'NotFound', 'LastAdmin'] },
  async handler(app, req, _ctx, principal) {
    const admin = requireAdmin(principal);
    const id = req.params.id ?? '';
    if (id === admin.sub) throw new MailError('Forbidden', 'You cannot delete your own account');
    const { orphanedBlobKeys } = await app.store.deleteUser(id);
    audit(app, 'user.deleted', { userId: id, by: admin.sub, ip: clientIp(req) });
    await app.orphans.release(orphanedBlobKeys);
    return { status: 204 };
  },
};
