import { randomBytes } from 'node:crypto';
import { rfc5322Date } from './received';

/** One recipient a bounce reports on. */
export interface BouncedRecipient {
  recipient: string;
  /** The remote reply or the transport's error. */
  detail: string;
  /** true: given up after the message's lifetime (temporary failures until then). */
  expired: boolean;
}

/** Strips what could break out of a header or report field. */
function oneLine(value: string, max = 900): string {
  return value.replace(/[\r\n\t]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '').trim().slice(0, max);
}

/** The RFC 3463 status a reply carries (e.g. "550 5.1.1 ..."), else a fitting default. */
export function statusOf(detail: string, expired: boolean): string {
  const match = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(detail);
  if (match && !expired) return `${match[1]}.${match[2]}.${match[3]}`;
  return expired ? '4.4.7' : '5.0.0'; // 4.4.7: delivery time expired
}

/** The header block of a message (up to the first empty line), for text/rfc822-headers. */
export function headerBlock(raw: Buffer): string {
  const text = raw.subarray(0, 256 * 1024).toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  return (end >= 0 ? text.slice(0, end) : text).replace(/\r?\n/g, '\r\n');
}

/**
 * A delivery status notification (RFC 3464): `multipart/report;
 * report-type=delivery-status` with a human part, the machine-readable
 * per-recipient report (remote reply as Diagnostic-Code), and the original
 * message's headers. It comes from the null sender and says Auto-Submitted, so
 * nothing answers it and it is never bounced in turn.
 */
export function buildBounce(input: {
  hostname: string;
  to: string;
  recipients: BouncedRecipient[];
  original: Buffer;
  submittedAt: number;
  now: number;
}): Buffer {
  const boundary = `nimbus-report-${randomBytes(12).toString('hex')}`;
  const { hostname } = input;
  const date = rfc5322Date(input.now);
  const expired = input.recipients.some((r) => r.expired);
  const human = [
    `This is the mail system at ${hostname}.`,
    '',
    expired
      ? 'Your message could not be delivered to the recipients below, although it was retried until it expired.'
      : 'Your message could not be delivered to the recipients below. This is a permanent error.',
    '',
    ...input.recipients.map((r) => `<${oneLine(r.recipient, 320)}>: ${oneLine(r.detail)}`),
    '',
    'The headers of your message are attached.',
  ].join('\r\n');
  const perRecipient = input.recipients
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${oneLine(r.recipient, 320)}`,
        'Action: failed',
        `Status: ${statusOf(r.detail, r.expired)}`,
        `Diagnostic-Code: smtp; ${oneLine(r.detail)}`,
        `Last-Attempt-Date: ${date}`,
      ].join('\r\n'),
    )
    .join('\r\n\r\n');
  const parts = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: ${oneLine(input.to, 320)}`,
    `Subject: Undelivered Mail Returned to Sender`,
    `Date: ${date}`,
    `Message-ID: <bounce.${randomBytes(10).toString('hex')}@${hostname}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Description: Notification',
    '',
    human,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    `Reporting-MTA: dns; ${hostname}`,
    `Arrival-Date: ${rfc5322Date(input.submittedAt)}`,
    '',
    perRecipient,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    'Content-Description: Undelivered message headers',
    '',
    headerBlock(input.original),
    '',
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(parts.join('\r\n'));
}
