import { toMailError } from '../core/errors';

/** An Error smtp-server turns into a reply: code from the error table, enhanced code first in the text. */
export function smtpReply(err: unknown): Error & { responseCode: number } {
  const mailError = toMailError(err);
  const reply = new Error(`${mailError.enhanced} ${mailError.message}`) as Error & { responseCode: number };
  reply.responseCode = mailError.smtp;
  return reply;
}
