import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { Logger } from '../../core/logger';
import type { SubmissionPort } from '../../core/outbound';
import type { User } from '../../core/types';
import { smtpReply } from '../reply';

/** The User an authenticated session logged in as (set by the AUTH hook), or null. */
export function sessionUser(session: SMTPServerSession): User | null {
  const user = session.user as unknown;
  return typeof user === 'object' && user !== null && 'id' in user ? (user as User) : null;
}

/**
 * MAIL FROM: an authenticated sender may only use its own addresses and aliases
 * (553 5.7.1), and is held to its hourly send limit (451 4.7.1). Mail from the
 * internet (no AUTH) is not checked here: its recipients decide at RCPT.
 */
export function createMailFromHook(deps: { submission: SubmissionPort; logger: Logger }) {
  return (address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void => {
    const user = sessionUser(session);
    if (!user) return callback();
    deps.submission.checkSender(user, address.address).then(
      () => callback(),
      (err) => {
        deps.logger.info({ session: session.id, user: user.email, mailFrom: address.address, code: (err as { code?: string }).code }, 'sender refused');
        callback(smtpReply(err));
      },
    );
  };
}
