import { MailError } from './errors';
import type { Logger } from './logger';
import type { MailStore, NewMessage } from './ports';
import type { InboundQueueMessage, StoredMessage } from './types';

/**
 * The consumer side of inbound mail: files each queued message into the mailbox of
 * every hosted recipient (Inbox; Junk when DMARC failed). Idempotent: the store keys
 * copies by (user, inbound id), so a redelivered queue message files nothing twice.
 * Used by the local worker and, in the Azure shape, by the Service Bus trigger.
 */
export async function planFiling(store: MailStore, message: InboundQueueMessage, logger: Logger): Promise<NewMessage[]> {
  const items: NewMessage[] = [];
  const users = new Set<string>();
  for (const rcpt of message.envelope.rcptTo) {
    const hit = await store.resolveAddress(rcpt);
    if (!hit) {
      // accepted at RCPT time, gone since (user deleted): nothing to file into
      logger.warn({ msg: message.id, rcpt }, 'recipient no longer exists; not filed');
      continue;
    }
    if (users.has(hit.userId)) continue; // two addresses of one user: one copy
    users.add(hit.userId);
    const wanted = message.auth?.dmarc === 'fail' ? 'junk' : 'inbox';
    const mailbox = (await store.findMailboxBySpecialUse(hit.userId, wanted)) ?? (await store.findMailboxBySpecialUse(hit.userId, 'inbox'));
    if (!mailbox) throw new MailError('TemporaryFailure', `user ${hit.userId} has no Inbox`);
    items.push({
      userId: hit.userId,
      mailboxId: mailbox.id,
      inboundId: message.id,
      rawBlobKey: message.rawBlobKey,
      size: message.size,
      receivedAt: message.receivedAt,
      summary: message.summary,
      auth: message.auth,
    });
  }
  return items;
}

/** Validates the shape of a queue body before trusting it; a bad one can never succeed. */
export function isInboundQueueMessage(value: unknown): value is InboundQueueMessage {
  const v = value as InboundQueueMessage;
  return (
    typeof v === 'object' && v !== null &&
    typeof v.id === 'string' && typeof v.rawBlobKey === 'string' && typeof v.size === 'number' && typeof v.receivedAt === 'number' &&
    typeof v.envelope === 'object' && v.envelope !== null && Array.isArray(v.envelope.rcptTo) &&
    typeof v.summary === 'object' && v.summary !== null
  );
}

export async function fileInbound(store: MailStore, messages: InboundQueueMessage[], logger: Logger): Promise<StoredMessage[]> {
  const items: NewMessage[] = [];
  for (const message of messages) items.push(...(await planFiling(store, message, logger)));
  return store.fileMessages(items);
}
