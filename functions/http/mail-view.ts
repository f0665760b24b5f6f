import type { Readable } from 'node:stream';
import type { MessageListItem, StoredMessage } from '../../core/types';
import { MailError } from '../../core/errors';
import type { AppContext } from '../app-context';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** DESIGN's message summary, as listed. */
export function toListItem(m: StoredMessage): MessageListItem {
  return {
    id: m.id,
    mailbox: m.mailboxId,
    from: m.summary.from,
    to: m.summary.to,
    subject: m.summary.subject,
    date: iso(m.summary.date),
    receivedAt: new Date(m.receivedAt).toISOString(),
    size: m.size,
    seen: m.seen,
    flagged: m.flagged,
    hasAttachments: m.summary.attachments.length > 0,
    snippet: m.summary.snippet,
  };
}

/** The user's message, or 404: another user's id is indistinguishable from none. */
export async function ownMessage(app: AppContext, userId: string, id: string | undefined): Promise<StoredMessage> {
  const message = id ? await app.store.getMessage(userId, id) : null;
  if (!message) throw new MailError('NotFound', 'Message not found');
  return message;
}

/** The user's message and a stream of its raw bytes (404 as in ownMessage). */
export async function openOwnMessage(app: AppContext, userId: string, id: string | undefined): Promise<{ message: StoredMessage; raw: Readable }> {
  const message = await ownMessage(app, userId, id);
  const raw = await app.blobs.get(message.rawBlobKey);
  if (!raw) throw new MailError('TemporaryFailure', 'Message body is unavailable');
  return { message, raw };
}
