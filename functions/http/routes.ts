import type { RouteDef } from '../http-kit';
import { authLogin } from './auth-login';
import { health } from './health';
import { mailboxesList } from './mailboxes-list';
import { mailsAttachment } from './mails-attachment';
import { mailsGet } from './mails-get';
import { mailsList } from './mails-list';
import { mailsRaw } from './mails-raw';
import { setup } from './setup';

/** Every HTTP trigger. The local host mounts this list; the Functions entry registers it with app.http. */
export const routes: RouteDef[] = [setup, authLogin, mailboxesList, mailsList, mailsGet, mailsRaw, mailsAttachment, health];
