import { normalizeAddress } from '../../core/address';
import { decideRecipient } from '../../core/directory';
import { MailError, isMailError } from '../../core/errors';
import { sendComposed, type Outgoing, type SubmitResult } from '../../core/outbound';
import type { Directory } from '../../core/ports';
import type { DeliveryStatus, User } from '../../core/types';
import { submitDeps, type AppContext } from '../app-context';

/** Addresses from the store (a removed user is never taken for hosted), domains as the send path looks them up. */
function recipientDirectory(app: AppContext): Directory {
  const domains = app.sending.domainLookups ?? app.store;
  return { resolveAddress: (address) => app.store.resolveAddress(address), getDomain: (name) => domains.getDomain(name) };
}

/** A recipient's delivery as the API shows it (times as ISO strings). */
export function deliveryView(d: DeliveryStatus) {
  return { recipient: d.recipient, status: d.status, attempts: d.attempts, nextAttemptAt: d.nextAttemptAt === null ? null : new Date(d.nextAttemptAt).toISOString(), detail: d.detail };
}

/**
 * The API side of sending: recipients checked as SMTP would (an unknown address on a
 * hosted domain is 400 now rather than a bounce later; no more than the per-message
 * limit), then core/outbound.ts. Its sending errors become the API's: a From that is
 * not the user's is 403 Forbidden, the hourly limit 429 RateLimited with Retry-After.
 */
export async function sendForUser(app: AppContext, user: User, outgoing: Outgoing): Promise<{ status: number; body: { id: string; delivery: ReturnType<typeof deliveryView>[] } }> {
  const { to, cc, bcc } = outgoing.fields;
  const all = [...to, ...cc, ...bcc];
  if (all.length > app.sending.maxRecipients) throw new MailError('ValidationFailed', `to: at most ${app.sending.maxRecipients} recipients per message`, { details: { field: 'to' } });
  // what is found here is not looked up again when the message is queued
  const hosted = new Set<string>();
  const directory = recipientDirectory(app);
  for (const address of all) {
    try {
      if ((await decideRecipient(directory, address.address, true)).kind === 'local') hosted.add(normalizeAddress(address.address));
    } catch (err) {
      if (isMailError(err) && err.code === 'MailboxUnknown') throw new MailError('ValidationFailed', `to: ${err.message}`, { details: { field: 'to' } });
      throw err;
    }
  }
  let result: SubmitResult;
  try {
    result = await sendComposed({ ...submitDeps(app), maxMessageBytes: app.limits.maxMessageBytes }, user, { ...outgoing, hosted });
  } catch (err) {
    if (isMailError(err) && err.code === 'SenderNotOwned') throw new MailError('Forbidden', err.message);
    if (isMailError(err) && err.code === 'SendRateLimited') throw new MailError('RateLimited', err.message, { details: err.details });
    throw err;
  }
  return { status: 202, body: { id: result.sent.id, delivery: result.delivery.map(deliveryView) } };
}
