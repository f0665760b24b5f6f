import { Readable } from 'node:stream';
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

/** The user's message and a stream of its raw bytes, this host's Authentication-Results first (404 as in ownMessage). */
export async function openOwnMessage(app: AppContext, userId: string, id: string | undefined): Promise<{ message: StoredMessage; raw: Readable }> {
  const message = await ownMessage(app, userId, id);
  return { message, raw: await openRaw(app, message) };
}

/**
 * The stored message's bytes as a stream: the header this host added after storing
 * (rawPrefix: Authentication-Results), then the blob. Every reader of a stored raw
 * message goes through here (openOwnMessage does).
 */
export async function openRaw(app: AppContext, message: StoredMessage): Promise<Readable> {
  const blob = await app.blobs.get(message.rawBlobKey);
  if (!blob) throw new MailError('TemporaryFailure', 'Message body is unavailable');
  if (!message.rawPrefix) return blob;
  const prefix = Buffer.from(message.rawPrefix, 'utf8');
  return Readable.from(
    (async function* () {
      yield prefix;
      yield* blob;
    })(),
    { objectMode: false },
  );
}

/** The auth results as the API shows them: the four words (AGREEMENTS), never the internal policy field. */
export function authView(message: StoredMessage) {
  const a = message.auth;
  return a ? { spf: a.spf ?? null, dkim: a.dkim ?? null, dmarc: a.dmarc ?? null, arc: a.arc ?? null } : null;
}
