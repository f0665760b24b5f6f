import type { AttachmentStream } from 'mailparser';
import { PassThrough, type Readable } from 'node:stream';
import { addressesOf, attachmentInfo, boundedMailParser, collect, drain, summaryFromHeaders, type BoundedMailParser, type TextBudget } from './mime';
import type { AddressValue, AttachmentInfo, MessageSummary } from './types';

/**
 * Reading stored messages for the API, as streams: the raw bytes flow through
 * mailparser once per request and nothing the size of the message is ever held.
 * The reader view keeps the text and the HTML up to READER_LIMITS (and says when
 * it cut them) and the attachment table (attachment bodies are counted, not kept);
 * one attachment is streamed out of the raw message as mailparser decodes it.
 */

/** Bytes of text and of HTML (as transferred) the reader view keeps; past them the view says `textTruncated` / `htmlTruncated`. */
export const READER_LIMITS: TextBudget = { text: 1024 * 1024, html: 1024 * 1024 };

export interface MessageView {
  headers: Array<{ key: string; line: string }>;
  /** From the headers, not size-limited (the list summary is). */
  summary: Omit<MessageSummary, 'attachments' | 'snippet'>;
  replyTo: AddressValue[];
  inReplyTo: string | null;
  references: string[];
  text: string | null;
  html: string | null;
  /** The text (or HTML) shown is the start of a longer body; the whole is in the raw message. */
  textTruncated: boolean;
  htmlTruncated: boolean;
  attachments: AttachmentInfo[];
  /** Set when mailparser gave up part way; what it read is shown. */
  parseError?: string;
}

// keepCidLinks: the webmail resolves cid: links through the attachment URLs
const VIEW_OPTIONS = { keepCidLinks: true, skipTextToHtml: true } as const;

/** The reader view of a stored message, streamed from `source`. */
export async function readMessageView(source: Readable, limits: TextBudget = READER_LIMITS): Promise<MessageView> {
  const parser = boundedMailParser(VIEW_OPTIONS, limits);
  const attachments: AttachmentInfo[] = [];
  const parsed = collect(parser, (part, position) => drain(part, (size) => attachments.push(attachmentInfo(position, part, size))));
  feed(source, parser);
  const parts = await parsed;
  const headers = parts.headers;
  const references = headers?.get('references');
  const inReplyTo = headers?.get('in-reply-to');
  const view: MessageView = {
    headers: parts.headerLines.map((h) => ({ key: h.key, line: h.line })),
    summary: summaryFromHeaders(headers, false),
    replyTo: addressesOf(headers?.get('reply-to')),
    inReplyTo: typeof inReplyTo === 'string' ? inReplyTo : null,
    references: Array.isArray(references) ? references.map(String) : typeof references === 'string' ? [references] : [],
    text: parts.text ?? null,
    html: typeof parts.html === 'string' ? parts.html : null,
    textTruncated: parser.truncated.text,
    htmlTruncated: parser.truncated.html,
    attachments: attachments.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1))),
  };
  if (parts.error) view.parseError = (parts.error.message || 'unreadable message').slice(0, 500);
  return view;
}

/**
 * Streams the attachment with the view's id (`a<n>`) out of a stored message:
 * resolves once mailparser reaches it, with its table entry (size unknown until the
 * end: 0) and its decoded bytes as a stream that honours the reader's pace; null
 * when the message has no such attachment. The rest of the message is not read.
 */
export function openAttachment(source: Readable, id: string): Promise<{ info: AttachmentInfo; content: Readable } | null> {
  // the text is not needed at all
  const parser = boundedMailParser(VIEW_OPTIONS, { text: 0, html: 0 });
  const stop = () => {
    source.destroy();
    parser.destroy();
  };
  return new Promise((resolve, reject) => {
    let found = false;
    const onAttachment = (part: AttachmentStream, position: number) => {
      if (found || `a${position}` !== id) return drain(part, () => undefined);
      found = true;
      const content = new PassThrough();
      part.content.on('error', (err: Error) => content.destroy(err));
      part.content.pipe(content);
      // done, or the reader went away: nothing after this attachment is needed
      content.on('close', stop);
      resolve({ info: attachmentInfo(position, part, 0), content });
    };
    collect(parser, onAttachment).then((parts) => {
      if (found) return;
      stop();
      if (parts.error) reject(parts.error);
      else resolve(null);
    });
    feed(source, parser);
  });
}

/**
 * Pipes the raw message into the parser; a failing source fails the parse. A parser
 * that gives up part way only emits its error and stops draining: the source is let
 * go then (a file stream would otherwise stay open, paused, until collected).
 */
function feed(source: Readable, parser: BoundedMailParser): void {
  source.on('error', (err) => parser.destroy(err));
  parser.on('error', () => {
    source.destroy();
    parser.destroy();
  });
  source.pipe(parser);
}
