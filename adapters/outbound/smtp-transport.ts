import nodemailer, { type Transporter } from 'nodemailer';
import type { ConnectionOptions } from 'node:tls';
import type { DeliveryOutcome, OutboundTransport } from '../../core/ports';

export interface SmtpRelayOptions {
  host: string;
  port: number;
  /** true: implicit TLS (465). false: STARTTLS when offered, required when we log in. */
  secure: boolean;
  user?: string;
  password?: string;
  /** Connect, greeting and idle timeout. */
  timeoutMs: number;
  maxConnections?: number;
  /** Extra TLS options (tests trust their own loopback certificate with `ca`). */
  tls?: ConnectionOptions;
}

interface RelayError {
  code?: string;
  responseCode?: number;
  response?: string;
  message: string;
  recipient?: string;
  rejectedErrors?: RelayError[];
}

/** Network faults, timeouts and TLS trouble: the relay may be back in a minute. */
const TEMPORARY_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL', 'ESTREAM', 'EMAXLIMIT', 'EPROXY']);

function describe(err: RelayError): string {
  return (err.response || `${err.code ?? 'error'}: ${err.message}`).replace(/[\r\n]+/g, ' ').slice(0, 900);
}

/** The outcome an SMTP error means: 5xx permanent, 4xx and network temporary, a refused relay login is our misconfiguration. */
export function classify(err: RelayError): DeliveryOutcome['outcome'] {
  if (err.code === 'EAUTH' || err.code === 'ENOAUTH') return 'misconfigured';
  if (typeof err.responseCode === 'number') {
    if (err.responseCode >= 500) return 'permanent';
    return 'temporary';
  }
  if (err.code && TEMPORARY_CODES.has(err.code)) return 'temporary';
  return 'temporary'; // unknown: rather retried than bounced
}

/**
 * NIMBUS_OUTBOUND_TRANSPORT=smtp: a relay (a smarthost on 587/465, or any MTA) via
 * nodemailer's pooled SMTP transport. The message goes as it is (raw, DKIM-Signature
 * in front); each recipient's RCPT reply decides its outcome, the DATA reply
 * decides for all the accepted ones.
 */
export class SmtpRelayTransport implements OutboundTransport {
  readonly name = 'smtp' as const;
  private readonly transporter: Transporter;
  private misconfigured: string | null = null;

  constructor(opts: SmtpRelayOptions) {
    this.transporter = nodemailer.createTransport({
      pool: true,
      maxConnections: opts.maxConnections ?? 10,
      maxMessages: 100,
      host: opts.host,
      port: opts.port,
      secure: opts.secure,
      // a password never crosses the network in clear
      requireTLS: !opts.secure && Boolean(opts.user),
      auth: opts.user ? { user: opts.user, pass: opts.password ?? '' } : undefined,
      connectionTimeout: opts.timeoutMs,
      greetingTimeout: opts.timeoutMs,
      socketTimeout: opts.timeoutMs,
      tls: opts.tls,
      logger: false,
    });
  }

  async send(input: { mailFrom: string; recipients: string[]; raw: Buffer }): Promise<DeliveryOutcome[]> {
    try {
      const info = await this.transporter.sendMail({ envelope: { from: input.mailFrom, to: input.recipients }, raw: input.raw });
      this.misconfigured = null;
      const rejected = new Map<string, RelayError>(((info as { rejectedErrors?: RelayError[] }).rejectedErrors ?? []).map((e) => [String(e.recipient).toLowerCase(), e]));
      return input.recipients.map((recipient) => {
        const err = rejected.get(recipient.toLowerCase());
        return err ? { recipient, outcome: classify(err), detail: describe(err) } : { recipient, outcome: 'sent' as const, detail: String(info.response ?? '250 accepted').slice(0, 900) };
      });
    } catch (caught) {
      const err = caught as RelayError;
      const perRecipient = new Map((err.rejectedErrors ?? []).map((e) => [String(e.recipient).toLowerCase(), e]));
      const outcome = classify(err);
      if (outcome === 'misconfigured') this.misconfigured = `the relay refused our login: ${describe(err)}`;
      return input.recipients.map((recipient) => {
        const own = perRecipient.get(recipient.toLowerCase()) ?? err;
        return { recipient, outcome: classify(own), detail: describe(own) };
      });
    }
  }

  health() {
    return this.misconfigured ? { status: 'misconfigured' as const, detail: this.misconfigured } : { status: 'ok' as const, detail: null };
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}
