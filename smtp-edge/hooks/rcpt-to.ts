import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { decideRecipient } from '../../core/directory';
import type { Logger } from '../../core/logger';
import type { Directory } from '../../core/ports';
import { smtpReply } from '../reply';

/** RCPT TO: accept hosted addresses, refuse unknown ones (550 5.1.1) and unauthenticated relay (554 5.7.1). */
export function createRcptToHook(deps: { directory: Directory; logger: Logger }) {
  return (address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    decideRecipient(deps.directory, address.address, Boolean(session.user)).then(
      () => callback(),
      (err) => {
        const reply = smtpReply(err);
        if (reply.responseCode >= 500) deps.logger.info({ session: session.id, rcpt: address.address, reply: reply.message }, 'recipient refused');
        else deps.logger.warn({ session: session.id, rcpt: address.address, err }, 'recipient check failed');
        callback(reply);
      },
    );
  };
}
