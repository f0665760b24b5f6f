import { draftEtag } from '../../core/drafts';
import { MailError } from '../../core/errors';
import type { Draft, StoredMessage } from '../../core/types';
import type { AppContext } from '../app-context';
import { json } from '../http-kit';
import { toListItem } from './mail-view';

/** A draft's files as the API shows them (ids as DELETE takes them; no storage keys). */
export function draftFiles(draft: Draft) {
  return draft.attachments.map(({ blobKey: _key, ...a }) => a);
}

/** A draft as the API shows it: the message summary, its fields and its files. */
export function draftView(message: StoredMessage, draft: Draft) {
  return {
    ...toListItem(message),
    draft: draft.fields,
    attachments: draftFiles(draft),
  };
}

/** A draft write's answer: the draft, with its version as the ETag for the next If-Match. */
export function draftResponse(status: number, message: StoredMessage, draft: Draft) {
  return json(status, draftView(message, draft), { etag: draftEtag(draft.version) });
}

/** The user's draft, or 404 (another user's draft, or a message that is not a draft). */
export async function ownDraft(app: AppContext, userId: string, id: string | undefined): Promise<Draft> {
  const draft = id ? await app.store.getDraft(userId, id) : null;
  if (!draft) throw new MailError('NotFound', 'Draft not found');
  return draft;
}
