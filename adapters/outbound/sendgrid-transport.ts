import type { Client } from '@sendgrid/client';
import type { MailService } from '@sendgrid/mail';
import type { AddressObject, EmailAddress } from 'mailparser';
import { lazy } from '../../core/lazy';
import type { DeliveryOutcome, OutboundTransport } from '../../core/ports';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const mailparser = lazy(() => require('mailparser') as typeof import('mailparser'));

export interface SendGridOptions {
  apiKey: string;
  /** https://api.sendgrid.com, or a loopback fake in tests. */
  baseUrl: string;
  timeoutMs: number;
}

/**
 * Headers SendGrid refuses as custom headers or sets itself: they are carried by
 * the JSON fields (from, subject, personalizations, content) or made by SendGrid.
 * DKIM-Signature is among them: with SendGrid the signature is SendGrid's own, made
 * for the domain once its domain authentication (CNAME records) is set up.
 */
const RESERVED = new Set(['dkim-signature', 'received', 'to', 'from', 'subject', 'reply-to', 'cc', 'bcc', 'date', 'mime-version', 'x-sg-id', 'x-sg-eid', 'return-path', 'sender']);

type Address = { email: string; name?: string };

function addresses(value: AddressObject | AddressObject[] | undefined): Address[] {
  const out: Address[] = [];
  const walk = (list: EmailAddress[]) => {
    for (const a of list) {
      if (a.group) walk(a.group);
      else if (a.address) out.push(a.name ? { email: a.address, name: a.name } : { email: a.address });
    }
  };
  for (const o of value ? (Array.isArray(value) ? value : [value]) : []) walk(o.value);
  return out;
}

/**
 * The recipients of one request as SendGrid personalizations. SendGrid writes the
 * To and Cc headers from them, so a Bcc recipient gets a personalization of its own
 * (else the others would see it); the visible ones share one, To and Cc as written.
 */
export function personalizations(recipients: string[], to: Address[], cc: Address[]) {
  const find = (list: Address[], r: string) => list.find((a) => a.email.toLowerCase() === r.toLowerCase());
  const inTo = recipients.flatMap((r) => (find(to, r) ? [find(to, r)!] : []));
  const inCc = recipients.flatMap((r) => (!find(to, r) && find(cc, r) ? [find(cc, r)!] : []));
  const hidden = recipients.filter((r) => !find(to, r) && !find(cc, r));
  const out: Array<{ to: Address[]; cc?: Address[] }> = [];
  if (inTo.length) out.push(inCc.length ? { to: inTo, cc: inCc } : { to: inTo });
  else if (inCc.length) out.push({ to: inCc }); // SendGrid needs a "to": a Cc-only batch is addressed to them
  for (const r of hidden) out.push({ to: [{ email: r }] });
  return out;
}

/**
 * The raw message as SendGrid's v3 mail/send JSON: SendGrid composes the MIME
 * itself, so the parts are taken apart here (text, html, attachments as base64 with
 * filename, type, disposition and content id) and every other header (In-Reply-To,
 * References, Message-ID, custom ones) goes in `headers`.
 */
export async function toSendGridMail(raw: Buffer, recipients: string[]) {
  const mail = await mailparser().simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, keepCidLinks: true });
  const from = addresses(mail.from)[0];
  const replyTo = addresses(mail.replyTo)[0];
  const headers: Record<string, string> = {};
  for (const { key, line } of mail.headerLines) {
    if (RESERVED.has(key) || key.startsWith('content-')) continue;
    const name = line.slice(0, line.indexOf(':')).trim();
    const value = line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ').trim();
    headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
  }
  const content: Array<{ type: string; value: string }> = [];
  if (mail.text) content.push({ type: 'text/plain', value: mail.text });
  if (typeof mail.html === 'string' && mail.html) content.push({ type: 'text/html', value: mail.html });
  if (!content.length) content.push({ type: 'text/plain', value: ' ' }); // SendGrid refuses an empty body
  return {
    personalizations: personalizations(recipients, addresses(mail.to), addresses(mail.cc)),
    from,
    ...(replyTo ? { replyTo } : {}),
    subject: mail.subject ?? '',
    content,
    ...(mail.attachments.length
      ? {
          attachments: mail.attachments.map((a) => ({
            content: a.content.toString('base64'),
            filename: a.filename ?? 'attachment',
            type: a.contentType,
            disposition: a.contentDisposition === 'inline' ? 'inline' : 'attachment',
            // snake case as the API wants it: the helper converts top-level keys, not these
            ...(a.cid ? { content_id: a.cid } : {}),
          })),
        }
      : {}),
    ...(Object.keys(headers).length ? { headers } : {}),
  };
}

interface SendGridError {
  code?: number | string;
  message?: string;
  response?: { headers?: Record<string, string>; body?: { errors?: Array<{ message?: string; field?: string }> } };
}

/** What SendGrid's answer means: 202 sent; 429 and 5xx retried (after X-RateLimit-Reset); 400/413 failed; 401/403 our key or sender identity. */
export function classifySendGrid(err: SendGridError, now = Date.now()): Omit<DeliveryOutcome, 'recipient'> {
  const status = typeof err.code === 'number' ? err.code : undefined;
  const reasons = (err.response?.body?.errors ?? []).map((e) => e.message).filter(Boolean).join('; ');
  const detail = `SendGrid ${status ?? err.code ?? 'error'}${reasons ? `: ${reasons}` : err.message ? `: ${err.message}` : ''}`.replace(/[\r\n]+/g, ' ').slice(0, 900);
  if (status === undefined) return { outcome: 'temporary', detail }; // network, timeout
  if (status === 401 || status === 403) return { outcome: 'misconfigured', detail };
  if (status === 429) {
    const reset = Number(err.response?.headers?.['x-ratelimit-reset']);
    return { outcome: 'temporary', detail, ...(Number.isFinite(reset) && reset > 0 ? { retryAfterMs: Math.min(3_600_000, Math.max(0, reset * 1000 - now)) } : {}) };
  }
  if (status >= 500) return { outcome: 'temporary', detail };
  return { outcome: 'permanent', detail }; // 400, 413 and the rest of 4xx: sending it again will not help
}

/** NIMBUS_OUTBOUND_TRANSPORT=sendgrid: the v3 mail/send API through @sendgrid/mail (Azure blocks port 25). */
export class SendGridTransport implements OutboundTransport {
  readonly name = 'sendgrid' as const;
  private readonly mail: MailService;
  private misconfigured: string | null = null;

  constructor(opts: SendGridOptions) {
    // loaded only when this transport is chosen: @sendgrid/* and its HTTP client would otherwise cost memory in every process
    /* eslint-disable @typescript-eslint/no-require-imports */
    const SendGridClient = (require('@sendgrid/client') as { Client: typeof Client }).Client;
    const SendGridMail = (require('@sendgrid/mail') as { MailService: typeof MailService }).MailService;
    /* eslint-enable @typescript-eslint/no-require-imports */
    this.mail = new SendGridMail();
    const client = new SendGridClient();
    client.setApiKey(opts.apiKey); // sets the default base URL: ours goes after it
    client.setDefaultRequest('baseUrl', opts.baseUrl.replace(/\/?$/, '/'));
    // passed through to axios (the typings list only SendGrid's own request fields)
    client.setDefaultRequest({ timeout: opts.timeoutMs } as unknown as Parameters<Client['setDefaultRequest']>[0]);
    this.mail.setClient(client);
  }

  async send(input: { mailFrom: string; recipients: string[]; raw: Buffer }): Promise<DeliveryOutcome[]> {
    let data: Awaited<ReturnType<typeof toSendGridMail>>;
    try {
      data = await toSendGridMail(input.raw, input.recipients);
    } catch (err) {
      // a message SendGrid's JSON cannot carry will never go: the recipients fail (a bounce says why) instead of waiting for a dead letter
      const detail = `the message cannot be sent through SendGrid: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
      return input.recipients.map((recipient) => ({ recipient, outcome: 'permanent' as const, detail }));
    }
    let result: Omit<DeliveryOutcome, 'recipient'>;
    try {
      const [response] = await this.mail.send(data as Parameters<MailService['send']>[0]);
      result = { outcome: 'sent', detail: `SendGrid ${response.statusCode} accepted` };
      this.misconfigured = null;
    } catch (err) {
      result = classifySendGrid(err as SendGridError);
      if (result.outcome === 'misconfigured') this.misconfigured = `SendGrid refused the API key or sender identity (${result.detail}); mail stays deferred`;
    }
    return input.recipients.map((recipient) => ({ recipient, ...result }));
  }

  health() {
    return this.misconfigured ? { status: 'misconfigured' as const, detail: this.misconfigured } : { status: 'ok' as const, detail: null };
  }

  async close(): Promise<void> {}
}
