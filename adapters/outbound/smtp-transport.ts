import SMTPConnection from 'nodemailer/lib/smtp-connection';
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

/** What the relay said to one message (SMTPConnection's send result). */
interface SendInfo {
  response?: string;
  rejectedErrors?: RelayError[];
}

/** The connection failed in a way a fresh connection may not: the relay closed it or dropped it (421, reset, closed). */
const isStale = (err: RelayError) => err.responseCode === 421 || err.code === 'ECONNECTION' || err.code === 'ESOCKET';

/**
 * NIMBUS_OUTBOUND_TRANSPORT=smtp: a relay (a smarthost on 587/465, or any MTA) over
 * nodemailer's SMTP client (`SMTPConnection`), a few connections kept open and reused.
 * The message goes as it is (raw, DKIM-Signature in front); each recipient's RCPT
 * reply decides its outcome, the DATA reply decides for all the accepted ones.
 *
 * The pool is this class, not nodemailer's `pool: true` transport: that one composes
 * every raw message again through MailComposer and streams it through two stream
 * pipelines, which cost about a sixth of the main thread's CPU per send. Its rules are
 * kept: at most `maxConnections` at once, a connection is replaced after 100 messages,
 * a refused envelope or message resets the session and keeps the connection, any other
 * failure closes it, and a message whose reused connection turns out to be dead (the
 * relay closed it while it was idle) goes out once more over a new one.
 */
export class SmtpRelayTransport implements OutboundTransport {
  readonly name = 'smtp' as const;
  private misconfigured: string | null = null;
  private readonly idle: SMTPConnection[] = [];
  private readonly waiting: Array<{ resolve: (c: SMTPConnection) => void; reject: (err: unknown) => void }> = [];
  private readonly sentOn = new WeakMap<SMTPConnection, number>();
  private readonly live = new Set<SMTPConnection>();
  private opening = 0;
  private closed = false;
  private readonly maxConnections: number;

  constructor(private readonly opts: SmtpRelayOptions) {
    this.maxConnections = opts.maxConnections ?? 10;
  }

  async send(input: { mailFrom: string; recipients: string[]; raw: Buffer }): Promise<DeliveryOutcome[]> {
    try {
      const info = await this.sendOnce(input);
      this.misconfigured = null;
      const rejected = new Map<string, RelayError>((info.rejectedErrors ?? []).map((e) => [String(e.recipient).toLowerCase(), e]));
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

  /** One message over a pooled connection; over a new one once more when a reused one was dead. */
  private async sendOnce(input: { mailFrom: string; recipients: string[]; raw: Buffer }): Promise<SendInfo> {
    for (let attempt = 0; ; attempt++) {
      const connection = await this.acquire();
      const reused = (this.sentOn.get(connection) ?? 0) > 0;
      try {
        const info = await new Promise<SendInfo>((resolve, reject) => connection.send({ from: input.mailFrom, to: input.recipients }, input.raw, (err, result) => (err ? reject(err) : resolve(result as SendInfo))));
        this.release(connection);
        return info;
      } catch (caught) {
        const err = caught as RelayError & { code?: string };
        this.sentOn.set(connection, (this.sentOn.get(connection) ?? 0) + 1);
        if ((err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && err.responseCode !== 421 && !connection.destroyed) {
          // the relay refused this message; the session is fine once reset
          connection.reset((resetErr) => (resetErr ? connection.close() : this.release(connection, false)));
          throw err;
        }
        connection.close();
        if (reused && attempt === 0 && isStale(err)) continue;
        throw err;
      }
    }
  }

  /** An idle connection, a new one when there is room, else the next one released. */
  private acquire(): Promise<SMTPConnection> {
    if (this.closed) return Promise.reject(Object.assign(new Error('the relay transport is closed'), { code: 'ECONNECTION' }));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiting.length && this.idle.length) this.waiting.shift()!.resolve(this.idle.pop()!);
    while (this.waiting.length > this.opening && this.live.size + this.opening < this.maxConnections) {
      this.opening++;
      this.open().then(
        (connection) => {
          this.opening--;
          this.idle.push(connection);
          this.pump();
        },
        (err: unknown) => {
          this.opening--;
          this.waiting.shift()?.reject(err);
          this.pump();
        },
      );
    }
  }

  /** Connects (STARTTLS as the options say) and logs in when the relay offers AUTH and we have a login. */
  private open(): Promise<SMTPConnection> {
    const { opts } = this;
    const connection = new SMTPConnection({
      host: opts.host,
      port: opts.port,
      secure: opts.secure,
      // a password never crosses the network in clear
      requireTLS: !opts.secure && Boolean(opts.user),
      connectionTimeout: opts.timeoutMs,
      greetingTimeout: opts.timeoutMs,
      socketTimeout: opts.timeoutMs,
      tls: opts.tls,
      logger: false,
    });
    this.live.add(connection);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err: unknown) => {
        if (settled) return;
        settled = true;
        if (err) {
          connection.close();
          reject(err);
        } else resolve(connection);
      };
      // an error is also the pending send's (its callback gets it); here it only ends the connection
      connection.on('error', (err) => settle(err));
      connection.once('end', () => {
        this.live.delete(connection);
        const at = this.idle.indexOf(connection);
        if (at >= 0) this.idle.splice(at, 1);
        settle(Object.assign(new Error('the relay closed the connection'), { code: 'ECONNECTION' }));
        this.pump();
      });
      connection.connect((err?: unknown) => {
        if (err) return settle(err);
        if (!opts.user || !connection.allowsAuth) return settle(null);
        connection.login({ user: opts.user, pass: opts.password ?? '' }, (err) => settle(err));
      });
    });
  }

  /** Back to the pool, or closed once it has carried 100 messages (or the transport is closing). */
  private release(connection: SMTPConnection, count = true): void {
    const sent = (this.sentOn.get(connection) ?? 0) + (count ? 1 : 0);
    this.sentOn.set(connection, sent);
    if (connection.destroyed) return;
    if (this.closed || sent >= 100) return connection.quit();
    this.idle.push(connection);
    this.pump();
  }

  health() {
    return this.misconfigured ? { status: 'misconfigured' as const, detail: this.misconfigured } : { status: 'ok' as const, detail: null };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(Object.assign(new Error('the relay transport is closed'), { code: 'ECONNECTION' }));
    for (const connection of [...this.live]) connection.close();
  }
}
