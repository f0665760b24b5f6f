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
/** Lookups shared by the messages of one batch (most of a batch goes to the same few mailboxes). */
export class FilingLookups {
  private readonly addresses = new Map<string, Promise<{ userId: string } | null>>();
  private readonly mailboxes = new Map<string, Promise<string | null>>();
  constructor(private readonly store: MailStore) {}
  resolve(address: string) {
    const key = address.toLowerCase();
    let hit = this.addresses.get(key);
    if (!hit) this.addresses.set(key, (hit = this.store.resolveAddress(key)));
    return hit;
  }
  mailboxId(userId: string, specialUse: 'inbox' | 'junk') {
    const key = `${userId}/${specialUse}`;
    let id = this.mailboxes.get(key);
    if (!id) this.mailboxes.set(key, (id = this.store.specialMailboxId(userId, specialUse)));
    return id;
  }
}

export async function planFiling(store: MailStore, message: InboundQueueMessage, logger: Logger, lookups = new FilingLookups(store)): Promise<NewMessage[]> {
  const items: NewMessage[] = [];
  const users = new Set<string>();
  for (const rcpt of message.envelope.rcptTo) {
    const hit = await lookups.resolve(rcpt);
    if (!hit) {
      // accepted at RCPT time, gone since (user deleted): nothing to file into
      logger.warn({ messageId: message.id, rcpt }, 'recipient no longer exists; not filed');
      continue;
    }
    if (users.has(hit.userId)) continue; // two addresses of one user: one copy
    users.add(hit.userId);
    // DMARC failed and the From domain asks for quarantine or reject (with NIMBUS_DMARC_REJECT the edge refused p=reject already)
    const wanted = message.auth?.dmarc === 'fail' && message.auth.dmarcPolicy !== 'none' ? 'junk' : 'inbox';
    const mailboxId = (await lookups.mailboxId(hit.userId, wanted)) ?? (await lookups.mailboxId(hit.userId, 'inbox'));
    if (!mailboxId) throw new MailError('TemporaryFailure', `user ${hit.userId} has no Inbox`);
    items.push({
      userId: hit.userId,
      mailboxId,
      inboundId: message.id,
      rawBlobKey: message.rawBlobKey,
      size: message.size,
      receivedAt: message.receivedAt,
      summary: message.summary,
      auth: message.auth,
      rawPrefix: message.rawPrefix ?? null,
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
  const lookups = new FilingLookups(store);
  for (const message of messages) items.push(...(await planFiling(store, message, logger, lookups)));
  const filed = await store.fileMessages(items);
  // the inbound id is what the SMTP client was told ("queued as"); the message id is what the API and the user see
  for (const m of filed) logger.info({ inboundId: m.inboundId, messageId: m.id, userId: m.userId, mailboxId: m.mailboxId }, 'message filed');
  return filed;
}
