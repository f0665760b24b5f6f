import { MailParser, simpleParser } from 'mailparser';
import type { AddressObject, AttachmentStream, EmailAddress, Headers, MessageText, Attachment } from 'mailparser';
import { Transform, type Writable } from 'node:stream';
import type { AddressValue, AttachmentInfo, MessageSummary } from './types';

/** Limits that keep a queue message small (Service Bus standard tier caps at 256 KB). */
export const SUMMARY_LIMITS = { subject: 2000, addresses: 100, attachments: 200, snippet: 200, searchText: 4 * 1024 } as const;

function flattenAddresses(list: EmailAddress[], out: AddressValue[] = []): AddressValue[] {
  for (const entry of list) {
    if (entry.group) flattenAddresses(entry.group, out);
    else out.push({ address: entry.address ?? '', name: entry.name ?? '' });
  }
  return out;
}

export function addressesOf(value: unknown): AddressValue[] {
  if (!value) return [];
  const objects = (Array.isArray(value) ? value : [value]) as AddressObject[];
  return flattenAddresses(objects.flatMap((o) => (o && Array.isArray(o.value) ? o.value : [])));
}

function dateOf(value: unknown): number | null {
  if (!(value instanceof Date)) return null;
  const ms = value.getTime();
  return Number.isFinite(ms) ? ms : null;
}

/** Collapsed plain text, at most `max` characters; from the text part, else from the HTML with tags dropped. */
export function plainText(text: string | undefined, html: string | false | undefined, max: number): string {
  let source = text ?? '';
  // look at the start only: trimming a long text whole costs more than the rest of this
  if (!/\S/.test(source.slice(0, 4096)) && typeof html === 'string') {
    source = html
      .slice(0, 64 * 1024)
      .replace(/<(style|script|head)[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&nbsp;/gi, ' ')
      .replace(/&amp;/gi, '&')
      .replace(/&lt;/gi, '<')
      .replace(/&gt;/gi, '>')
      .replace(/&quot;/gi, '"')
      .replace(/&#39;/gi, "'");
  }
  return source.slice(0, Math.max(max * 2, 4096)).replace(/\s+/g, ' ').trim().slice(0, max);
}


export function attachmentInfo(index: number, a: { filename?: string; contentType: string; cid?: string; contentId?: string; contentDisposition?: string }, size: number): AttachmentInfo {
  return {
    id: `a${index}`,
    filename: a.filename ?? null,
    contentType: a.contentType || 'application/octet-stream',
    size,
    contentId: a.cid ?? null,
    inline: a.contentDisposition === 'inline',
  };
}

function summaryFromHeaders(headers: Headers | undefined, limits = true): Omit<MessageSummary, 'attachments' | 'snippet'> {
  const subject = headers?.get('subject');
  const messageId = headers?.get('message-id');
  return {
    from: addressesOf(headers?.get('from'))[0] ?? null,
    to: addressesOf(headers?.get('to')).slice(0, limits ? SUMMARY_LIMITS.addresses : undefined),
    cc: addressesOf(headers?.get('cc')).slice(0, limits ? SUMMARY_LIMITS.addresses : undefined),
    subject: typeof subject === 'string' ? (limits ? subject.slice(0, SUMMARY_LIMITS.subject) : subject) : '',
    date: dateOf(headers?.get('date')),
    messageId: typeof messageId === 'string' ? (limits ? messageId.slice(0, 998) : messageId) : null,
  };
}

/** How much of a single-part text body the summary parser reads; the snippet needs far less. */
export const TEXT_BODY_CAP = 64 * 1024;
const HEADER_SCAN_LIMIT = 1024 * 1024;

/**
 * Decides from the top-level header whether the message is one plain text or HTML
 * body and nothing else (not multipart, no Content-Disposition, no name): then
 * mailparser would report no attachments whatever the body holds, and the summary
 * needs only the start of it.
 */
export function isSingleTextBody(header: string): boolean {
  const unfolded = header.replace(/\r?\n[ \t]+/g, ' ');
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'im').exec(unfolded)?.[1].trim() ?? null;
  if (field('content-disposition') !== null) return false;
  const type = field('content-type');
  if (type === null) return true; // RFC 2045: text/plain
  return /^text\/(plain|html)\s*(;|$)/i.test(type) && !/\bname\*?=/i.test(type);
}

/**
 * Passes the message through unchanged, except that a single text body is cut after
 * TEXT_BODY_CAP bytes: mailparser would otherwise hold all of it (a 25 MB text body
 * costs over 100 MB of memory) only for the summary to keep 200 characters.
 */
export function textBodyCap(): Transform {
  let head: Buffer | null = Buffer.alloc(0);
  let budget = Infinity;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (head) {
        head = Buffer.concat([head, chunk]);
        const crlf = head.indexOf('\r\n\r\n');
        const lf = head.indexOf('\n\n');
        const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
        if (end < 0 && head.length < HEADER_SCAN_LIMIT) return callback();
        const bodyStart = end < 0 ? head.length : end;
        if (end >= 0 && isSingleTextBody(head.subarray(0, end).toString('latin1'))) budget = TEXT_BODY_CAP;
        chunk = head.subarray(bodyStart);
        this.push(head.subarray(0, bodyStart));
        head = null;
      }
      if (budget === Infinity) return callback(null, chunk);
      const take = Math.min(budget, chunk.length);
      budget -= take;
      callback(null, take ? chunk.subarray(0, take) : undefined);
    },
    flush(callback) {
      if (head) this.push(head);
      callback();
    },
  });
}

const EMPTY_SUMMARY: MessageSummary = { from: null, to: [], cc: [], subject: '', date: null, messageId: null, attachments: [], snippet: '' };

/**
 * A parser to pipe the message into while it streams to the BlobStore: it keeps the
 * headers, text and attachment metadata and drains attachment bodies, so memory
 * stays bounded whatever the attachments weigh. A message mailparser cannot read
 * still yields a summary (with `parseError`): the raw bytes are what matters.
 */
export function createSummaryParser(): { input: Writable; summary: Promise<MessageSummary> } {
  // Text-to-HTML and HTML-to-text conversions are for display; the summary needs neither.
  const parser = new MailParser({ skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true });
  let headers: Headers | undefined;
  let text: string | undefined;
  let html: string | false | undefined;
  const attachments: AttachmentInfo[] = [];
  let index = 0;

  const summary = new Promise<MessageSummary>((resolve) => {
    let settled = false;
    const finish = (parseError?: string) => {
      if (settled) return;
      settled = true;
      const searchText = plainText(text, html, SUMMARY_LIMITS.searchText);
      const result: MessageSummary = {
        ...EMPTY_SUMMARY,
        ...summaryFromHeaders(headers),
        attachments: attachments.slice(0, SUMMARY_LIMITS.attachments),
        searchText,
        snippet: searchText.slice(0, SUMMARY_LIMITS.snippet).trim(),
      };
      if (parseError) result.parseError = parseError.slice(0, 500);
      resolve(result);
    };
    parser.on('headers', (h: Headers) => {
      headers = h;
    });
    parser.on('data', (part: AttachmentStream | MessageText) => {
      if (part.type === 'text') {
        text = part.text;
        html = part.html;
        return;
      }
      const position = ++index;
      let size = 0;
      part.content.on('data', (chunk: Buffer) => {
        size += chunk.length;
      });
      part.content.on('end', () => {
        attachments.push(attachmentInfo(position, part, size));
        attachments.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
        part.release?.();
      });
    });
    parser.on('end', () => finish());
    parser.on('error', (err: Error) => {
      finish(err.message || 'unreadable message');
    });
  });
  const input = textBodyCap();
  input.pipe(parser);
  input.on('error', (err) => parser.destroy(err));
  // a parser that gave up takes no more input: stop the cap too, so writers are not left waiting
  parser.on('close', () => input.destroy());
  return { input, summary };
}

/** A full parse of stored raw bytes, for the message view. */
export interface FullMessage {
  headers: Array<{ key: string; line: string }>;
  summary: Omit<MessageSummary, 'attachments' | 'snippet'>;
  replyTo: AddressValue[];
  inReplyTo: string | null;
  references: string[];
  text: string | null;
  html: string | null;
  attachments: Array<AttachmentInfo & { content: Buffer }>;
}

export async function parseFull(raw: Buffer): Promise<FullMessage> {
  // keepCidLinks: the webmail resolves cid: links through the attachment URLs
  const mail = await simpleParser(raw, { keepCidLinks: true, skipTextToHtml: true });
  const references = mail.references;
  const inReplyTo = mail.inReplyTo;
  return {
    headers: (mail.headerLines ?? []).map((h) => ({ key: h.key, line: h.line })),
    summary: summaryFromHeaders(mail.headers, false), // the full view is not size-limited
    replyTo: addressesOf(mail.replyTo),
    inReplyTo: typeof inReplyTo === 'string' ? inReplyTo : null,
    references: Array.isArray(references) ? references : typeof references === 'string' ? [references] : [],
    text: mail.text ?? null,
    html: typeof mail.html === 'string' ? mail.html : null,
    attachments: mail.attachments.map((a: Attachment, i: number) => ({ ...attachmentInfo(i + 1, a, a.content.length), content: a.content })),
  };
}
