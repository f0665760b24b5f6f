import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { normalizeAddress } from '../../core/address';
import { decideRecipient, type RecipientDecision } from '../../core/directory';
import type { Logger } from '../../core/logger';
import type { Directory } from '../../core/ports';
import { smtpReply } from '../reply';

/** Each accepted RCPT's decision, by the address object smtp-server keeps in the session's envelope. */
const decisions = new WeakMap<SMTPServerAddress, RecipientDecision['kind']>();

/**
 * The hosted recipients among a session's accepted ones, as RCPT TO found them (normalized): a
 * submission then queues them without looking each one up again. Null when one has no decision.
 */
export function hostedAtRcpt(session: SMTPServerSession): Set<string> | null {
  const hosted = new Set<string>();
  for (const address of session.envelope.rcptTo) {
    const kind = decisions.get(address);
    if (!kind) return null;
    if (kind === 'local') hosted.add(normalizeAddress(address.address));
  }
  return hosted;
}

/** RCPT TO: accept hosted addresses, refuse unknown ones (550 5.1.1) and unauthenticated relay (554 5.7.1). */
export function createRcptToHook(deps: { directory: Directory; logger: Logger }) {
  return (address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    decideRecipient(deps.directory, address.address, Boolean(session.user)).then(
      (decision) => {
        decisions.set(address, decision.kind);
        callback();
      },
      (err) => {
        const reply = smtpReply(err);
        if (reply.responseCode >= 500) deps.logger.info({ session: session.id, rcpt: address.address, reply: reply.message }, 'recipient refused');
        else deps.logger.warn({ session: session.id, rcpt: address.address, err }, 'recipient check failed');
        callback(reply);
      },
    );
  };
}
