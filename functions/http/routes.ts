import type { RouteDef } from '../http-kit';
import { authLogin } from './auth-login';
import { authLogout } from './auth-logout';
import { authMe } from './auth-me';
import { authPassword } from './auth-password';
import { authRegister } from './auth-register';
import { mailboxesCreate } from './mailboxes-create';
import { mailboxesDelete } from './mailboxes-delete';
import { mailboxesUpdate } from './mailboxes-update';
import { mailsBulkDelete } from './mails-bulk-delete';
import { mailsBulkUpdate } from './mails-bulk-update';
import { mailsDelete } from './mails-delete';
import { mailsUpdate } from './mails-update';
import { mailsCreate } from './mails-create';
import { mailsReplace } from './mails-replace';
import { mailsSend } from './mails-send';
import { send } from './send';
import { mailsAttachmentAdd } from './mails-attachment-add';
import { mailsAttachmentRemove } from './mails-attachment-remove';
import { createOpenApiRoute } from './openapi';
import { usersAliasAdd } from './users-alias-add';
import { usersAliasRemove } from './users-alias-remove';
import { usersDelete } from './users-delete';
import { usersList } from './users-list';
import { usersPassword } from './users-password';
import { domainsCreate } from './domains-create';
import { domainsDelete } from './domains-delete';
import { domainsGet } from './domains-get';
import { domainsList } from './domains-list';
import { domainsVerify } from './domains-verify';
import { health } from './health';
import { mailboxesList } from './mailboxes-list';
import { mailsAttachment } from './mails-attachment';
import { mailsGet } from './mails-get';
import { mailsList } from './mails-list';
import { mailsRaw } from './mails-raw';
import { setup } from './setup';
import { setupStatus } from './setup-status';

/** Every HTTP trigger. The local host mounts this list; the Functions entry registers it with app.http. */
export const routes: RouteDef[] = [
  setup,
  setupStatus,
  authLogin,
  authLogout,
  authMe,
  authPassword,
  authRegister,
  usersList,
  usersDelete,
  usersPassword,
  usersAliasAdd,
  usersAliasRemove,
  domainsList,
  domainsCreate,
  domainsGet,
  domainsDelete,
  domainsVerify,
  mailboxesList,
  mailboxesCreate,
  mailboxesUpdate,
  mailboxesDelete,
  mailsList,
  mailsBulkUpdate,
  mailsBulkDelete,
  mailsGet,
  mailsUpdate,
  mailsDelete,
  mailsCreate,
  mailsReplace,
  mailsRaw,
  mailsAttachment,
  mailsAttachmentAdd,
  mailsAttachmentRemove,
  mailsSend,
  send,
  health,
];
routes.push(createOpenApiRoute(routes));
