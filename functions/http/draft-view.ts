import { MailError } from '../../core/errors';
import type { Draft, StoredMessage } from '../../core/types';
import type { AppContext } from '../app-context';
import { toListItem } from './mail-view';

/** A draft as the API shows it: the message summary, its fields and its files (no storage keys). */
export function draftView(message: StoredMessage, draft: Draft) {
  return {
    ...toListItem(message),
    draft: draft.fields,
    attachments: draft.attachments.map(({ blobKey: _key, ...a }) => a),
  };
}

/** The user's draft, or 404 (another user's draft, or a message that is not a draft). */
export async function ownDraft(app: AppContext, userId: string, id: string | undefined): Promise<Draft> {
  const draft = id ? await app.store.getDraft(userId, id) : null;
  if (!draft) throw new MailError('NotFound', 'Draft not found');
  return draft;
}
