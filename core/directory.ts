import { domainOf, normalizeAddress } from './address';
import { MailError } from './errors';
import type { MailStore } from './ports';

/** What the edge does with one RCPT TO. */
export type RecipientDecision = { kind: 'local'; userId: string } | { kind: 'relay' };

/**
 * The RCPT policy: hosted address → accept; unknown address on a hosted domain →
 * 550 5.1.1; any other domain → relay, only for an authenticated sender, else 554 5.7.1.
 * Lookup failures are left to throw: the edge turns them into 451 (never 5xx).
 */
export async function decideRecipient(store: MailStore, address: string, authenticated: boolean): Promise<RecipientDecision> {
  const normalized = normalizeAddress(address);
  const domain = domainOf(normalized);
  if (!domain) throw new MailError('BadRecipientAddress');
  const hit = await store.resolveAddress(normalized);
  if (hit) return { kind: 'local', userId: hit.userId };
  const hosted = await store.getDomain(domain);
  if (hosted) throw new MailError('MailboxUnknown', `No such user here: ${normalized}`);
  if (authenticated) return { kind: 'relay' };
  throw new MailError('RelayDenied', `Relay access denied for ${domain}`);
}
