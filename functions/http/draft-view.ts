import type { Draft, StoredMessage } from '../../core/types';
import { toListItem } from './mail-view';

/** A draft as the API shows it: the message summary, its fields and its files (no storage keys). */
export function draftView(message: StoredMessage, draft: Draft) {
  return {
    ...toListItem(message),
    draft: draft.fields,
    attachments: draft.attachments.map(({ blobKey: _key, ...a }) => a),
  };
}
