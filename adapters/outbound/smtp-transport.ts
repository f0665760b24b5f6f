import { Readable } from 'node:stream';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { ConnectionOptions } from 'node:tls';
import { lazy } from '../../core/lazy';
import type { DeliveryOutcome, OutboundTransport } from '../../core/ports';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const smtpConnection = lazy(() => require('nodemailer/lib/smtp-connection') as typeof SMTPConnection);

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
  /** Set by the pool: the relay refused the session before any message (greeting, EHLO, STARTTLS, AUTH). */
  setup?: boolean;
}

/** Network faults, timeouts and TLS trouble: the relay may be back in a minute. */
const TEMPORARY_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL', 'ESTREAM', 'EMAXLIMIT', 'EPROXY']);

function describe(err: RelayError): string {
  return (err.response || `${err.code ?? 'error'}: ${err.message}`).replace(/[\r\n]+/g, ' ').slice(0, 900);
}

/**
 * The outcome an SMTP error means: 5xx permanent, 4xx and network temporary; a refused
 * relay login, or a session the relay refuses before any message (no STARTTLS while a
 * login needs it, our address refused), is our misconfiguration: never a bounce.
 */
export function classify(err: RelayError): DeliveryOutcome['outcome'] {
  if (err.code === 'EAUTH' || err.code === 'ENOAUTH') return 'misconfigured';
  if (err.setup && typeof err.responseCode === 'number' && err.responseCode >= 500) return 'misconfigured';
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

const closedError = (message: string) => Object.assign(new Error(message), { code: 'ECONNECTION' });

/**
 * NIMBUS_OUTBOUND_TRANSPORT=smtp: a relay (a smarthost on 587/465, or any MTA) over
 * nodemailer's SMTP client (`SMTPConnection`), a few connections kept open and reused.
 * The message goes as it is (raw, DKIM-Signature in front); each recipient's RCPT
 * reply decides its outcome, the DATA reply decides for all the accepted ones.
 *
 * The pool is this class, not nodemailer's `pool: true` transport: that one composes
 * every raw message again through MailComposer and streams it through two stream
 * pipelines, which cost about a sixth of the main thread's CPU per send. Its rules are
 * kept: at most `maxConnections` at once (those still connecting included), a connection
 * is replaced after 100 messages, a refused envelope or message resets the session and
 * keeps the connection, any other failure closes it, and a message whose reused
 * connection turns out to be dead before a byte of the message was sent (the relay
 * closed it while it was idle) goes out once more over a new connection. A login is
 * configured but the relay offers no AUTH: misconfigured (deferred, said in health),
 * never sent without the login.
 */
export class SmtpRelayTransport implements OutboundTransport {
  readonly name = 'smtp' as const;
  private misconfigured: string | null = null;
  /** Every open connection: connecting, idle or carrying a message. */
  private readonly live = new Set<SMTPConnection>();
  private readonly idle: SMTPConnection[] = [];
  /** Connections carrying a message: close() lets them finish it. */
  private readonly busy = new Set<SMTPConnection>();
  private readonly waiting: Array<{ resolve: (c: SMTPConnection) => void; reject: (err: unknown) => void }> = [];
  private readonly sentOn = new WeakMap<SMTPConnection, number>();
  /** Connections being opened for waiting sends. */
  private opening = 0;
  /** Slots held for a message's second try while its dead connection goes. */
  private reserved = 0;
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
      if (outcome === 'misconfigured') this.misconfigured = err.code === 'ENOAUTH' ? describe(err) : err.code === 'EAUTH' ? `the relay refused our login: ${describe(err)}` : `the relay refused our session before any message: ${describe(err)}`;
      return input.recipients.map((recipient) => {
        const own = perRecipient.get(recipient.toLowerCase()) ?? err;
        return { recipient, outcome: classify(own), detail: describe(own) };
      });
    }
  }

  /** One message over a pooled connection; once more over a new one when a reused one was dead before the message went. */
  private async sendOnce(input: { mailFrom: string; recipients: string[]; raw: Buffer }): Promise<SendInfo> {
    let connection = await this.acquire();
    for (let attempt = 0; ; attempt++) {
      const reused = (this.sentOn.get(connection) ?? 0) > 0;
      // a stream, so that a failure can tell whether any of the message was sent (nodemailer's pool asks the same)
      const message = Readable.from([input.raw], { objectMode: false });
      try {
        const info = await this.transact(connection, input, message);
        this.release(connection);
        return info;
      } catch (caught) {
        const err = caught as RelayError & { code?: string };
        this.busy.delete(connection);
        this.sentOn.set(connection, (this.sentOn.get(connection) ?? 0) + 1);
        if ((err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && err.responseCode !== 421 && !connection.destroyed) {
          // the relay refused this message; the session is fine once reset
          connection.reset((resetErr) => (resetErr ? connection.close() : this.release(connection, false)));
          throw err;
        }
        const again = reused && attempt === 0 && !message.readableDidRead && isStale(err) && !this.closed;
        if (again) this.reserved++; // the dead connection's slot is this message's, not the next waiting one's
        connection.close();
        if (!again) throw err;
        const fresh = this.open();
        this.reserved--;
        connection = await fresh;
        this.busy.add(connection);
      }
    }
  }

  /** SMTPConnection.send, settled also when the connection ends without calling back (a close of ours mid-message). */
  private transact(connection: SMTPConnection, input: { mailFrom: string; recipients: string[] }, message: Readable): Promise<SendInfo> {
    return new Promise<SendInfo>((resolve, reject) => {
      // after the callback's own error, which comes right after 'end' when the client fails
      const ended = () => setImmediate(() => reject(closedError('the connection to the relay was closed')));
      connection.once('end', ended);
      connection.send({ from: input.mailFrom, to: input.recipients }, message, (err, result) => {
        connection.removeListener('end', ended);
        if (err) reject(err);
        else resolve(result as SendInfo);
      });
    });
  }

  /** An idle connection, a new one when there is room, else the next one released. */
  private acquire(): Promise<SMTPConnection> {
    if (this.closed) return Promise.reject(closedError('the relay transport is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({
        resolve: (connection) => {
          this.busy.add(connection);
          resolve(connection);
        },
        reject,
      });
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiting.length && this.idle.length) this.waiting.shift()!.resolve(this.idle.pop()!);
    while (this.waiting.length > this.opening && this.live.size + this.reserved < this.maxConnections) {
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

  /** Connects (STARTTLS as the options say) and logs in when a login is configured; counts in `live` from the start. */
  private open(): Promise<SMTPConnection> {
    const { opts } = this;
    const Connection = smtpConnection();
    const connection = new Connection({
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
          reject(Object.assign(err as object, { setup: true }));
        } else resolve(connection);
      };
      // an error is also the pending send's (its callback gets it); here it only ends the connection
      connection.on('error', (err) => settle(err));
      connection.once('end', () => {
        this.live.delete(connection);
        this.busy.delete(connection);
        const at = this.idle.indexOf(connection);
        if (at >= 0) this.idle.splice(at, 1);
        settle(closedError('the relay closed the connection'));
        this.pump();
      });
      connection.connect((err?: unknown) => {
        if (err) return settle(err);
        if (!opts.user) return settle(null);
        if (!connection.allowsAuth) return settle(Object.assign(new Error('the relay offers no AUTH, and a login is configured (NIMBUS_RELAY_USER): nothing is sent without it'), { code: 'ENOAUTH' }));
        connection.login({ user: opts.user, pass: opts.password ?? '' }, (err) => settle(err));
      });
    });
  }

  /** Back to the pool, or closed once it has carried 100 messages (or the transport is closing). */
  private release(connection: SMTPConnection, count = true): void {
    this.busy.delete(connection);
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

  /** Sends still waiting for a connection get a temporary failure; idle and connecting connections close; one carrying a message finishes it, then quits. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(closedError('the relay transport is closed'));
    for (const connection of [...this.live]) if (!this.busy.has(connection)) connection.close();
  }
}
