import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession } from 'smtp-server';
import { MailError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import type { SubmissionPort } from '../../core/outbound';
import { smtpReply } from '../reply';

/**
 * AUTH PLAIN / LOGIN: the password is checked as API login checks it (the password
 * threads, the same lock-out counters). A wrong one is 535 5.7.8 and counts; over the
 * limits it is 421 4.7.0 and the connection closes. The session's user is the User.
 */
export function createAuthHook(deps: { submission: SubmissionPort; logger: Logger }) {
  return (auth: SMTPServerAuthentication, session: SMTPServerSession, callback: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void): void => {
    const username = (auth.username ?? '').trim();
    deps.submission.authenticate(username, auth.password ?? '', session.remoteAddress).then(
      (user) => {
        if (!user) {
          deps.logger.info({ session: session.id, username, ip: session.remoteAddress }, 'smtp auth failed');
          return callback(smtpReply(new MailError('InvalidCredentials', 'Authentication credentials invalid')));
        }
        deps.logger.info({ session: session.id, user: user.email }, 'smtp auth ok');
        callback(null, { user });
      },
      (err) => {
        deps.logger.warn({ session: session.id, username, ip: session.remoteAddress, code: (err as MailError).code }, 'smtp auth refused');
        callback(smtpReply(err));
      },
    );
  };
}
