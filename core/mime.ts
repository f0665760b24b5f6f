import type { AddressObject, AttachmentStream, EmailAddress, Headers, MailParser, MailParserOptions, MessageText } from 'mailparser';
import { createRequire } from 'node:module';
import { type Transform, Writable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser';
import { BodyCut, HEADER_SCAN_LIMIT, isSingleTextBody, TEXT_BODY_CAP } from './body-cut';
import { lazy } from './lazy';
import { whenWritable } from './streams';
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

/** A run of white space that is not a single space: the same runs as /\s+/ finds, less the lone spaces (global: for replace only). */
export const COLLAPSIBLE_SPACE = /[^\S ]\s*| \s+/g;

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
  // every run of white space becomes one space; a lone space already is one, so only the other runs are replaced (half the time of /\s+/)
  return source.slice(0, Math.max(max * 2, 4096)).replace(COLLAPSIBLE_SPACE, ' ').trim().slice(0, max);
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

/**
 * Every author the header names, from the raw field lines (mailparser's parsed headers
 * keep only the first From and the first Sender): the addresses after the first From
 * address, distinct and lower-case, and whether they can all be checked.
 */
function authorsOf(headerLines: Array<{ key: string; line: string }>, first: string | undefined): { otherSenders?: string[]; ambiguousAuthors?: true } {
  const fields = headerLines.filter((h) => h.key === 'from' || h.key === 'sender');
  const seen = new Set<string>(first ? [first.toLowerCase()] : []);
  const others: string[] = [];
  for (const field of fields) {
    const value = field.line.slice(field.line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ');
    for (const { address } of addressparser(value, { flatten: true })) {
      const normalized = (address ?? '').trim().toLowerCase();
      if (normalized && !seen.has(normalized)) {
        seen.add(normalized);
        others.push(normalized);
      }
    }
  }
  const ambiguous = fields.filter((h) => h.key === 'from').length > 1 || fields.filter((h) => h.key === 'sender').length > 1 || others.length > SUMMARY_LIMITS.addresses;
  return { ...(others.length ? { otherSenders: others.slice(0, SUMMARY_LIMITS.addresses) } : {}), ...(ambiguous ? { ambiguousAuthors: true as const } : {}) };
}

export function summaryFromHeaders(headers: Headers | undefined, limits = true, headerLines: Array<{ key: string; line: string }> = []): Omit<MessageSummary, 'attachments' | 'snippet'> {
  const subject = headers?.get('subject');
  const messageId = headers?.get('message-id');
  const from = addressesOf(headers?.get('from'));
  return {
    ...authorsOf(headerLines, from[0]?.address),
    from: from[0] ?? null,
    to: addressesOf(headers?.get('to')).slice(0, limits ? SUMMARY_LIMITS.addresses : undefined),
    cc: addressesOf(headers?.get('cc')).slice(0, limits ? SUMMARY_LIMITS.addresses : undefined),
    subject: typeof subject === 'string' ? (limits ? subject.slice(0, SUMMARY_LIMITS.subject) : subject) : '',
    date: dateOf(headers?.get('date')),
    messageId: typeof messageId === 'string' ? (limits ? messageId.slice(0, 998) : messageId) : null,
  };
}

interface SplitterNode {
  addHeaderChunk(line: Buffer): boolean;
  headerCost(): number;
  parseHeaders(): void;
  headers: { getList(): Array<{ key: string; line: string }>; lines: Array<{ key: string; line: string }> };
  contentType: string | false;
  disposition: string | false;
  charset: string | false;
  flowed: boolean;
  delSp: boolean;
  getDecoder(): Transform;
}

/**
 * mailparser, and the modules it splits and decodes with as mailparser resolves them
 * (the same copies): loaded when a message is first parsed (core/lazy), so the main
 * thread of a server that only receives mail never loads them.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const mailparser = lazy(() => {
  const mailparserRequire = createRequire(require.resolve('mailparser'));
  return {
    MailParser: (require('mailparser') as typeof import('mailparser')).MailParser,
    MimeNode: (mailparserRequire('@zone-eu/mailsplit') as { MimeNode: new (parent: false, config: object) => SplitterNode }).MimeNode,
    FlowedDecoder: mailparserRequire('@zone-eu/mailsplit/lib/flowed-decoder.js') as new (options: { delSp: boolean }) => Transform,
    libmime: mailparserRequire('libmime') as { createDecodeStream(charset: string): Transform },
  };
});
/* eslint-enable @typescript-eslint/no-require-imports */
/** Loads mailparser now: a thread whose work is parsing does before it says it is ready. */
export const loadMailparser = (): void => void mailparser();

/** Body bytes of text parts (as transferred, before decoding) a parser hands to MailParser, per kind. */
export interface TextBudget {
  text: number;
  html: number;
}

/** The part of MailParser's internals BoundedMailParser relies on (mailparser 3.x). */
interface ParserNode {
  isAttachment?: boolean;
  decoder?: unknown;
  contentType?: string;
  root?: boolean;
  parent?: ParserNode;
}
interface ParserInternals {
  curnode?: ParserNode | false;
  hasText?: boolean;
  hasHtml?: boolean;
  processChunk(data: { type: string; value?: Buffer }, done: () => void): void;
}

/**
 * MailParser that keeps a bounded amount of text. MailParser collects every text
 * part whole (a 25 MB text part costs over 100 MB); here the body bytes of text
 * parts past the budget are not handed to it, in single-part and multipart messages
 * alike, and `truncated` says which kind was cut. Attachments are untouched: they
 * stream through to whoever reads them. The cut is made where MailParser feeds a
 * part's body to its decoder (`processChunk`, and `curnode`, its own decision of
 * what is text and what is an attachment): internal to mailparser 3.x, so the tests
 * on cut text (core/core.test.ts, test/read-memory.test.ts) fail if a release moves it.
 */
const boundedMailParserClass = lazy(
  () =>
    class BoundedMailParser extends mailparser().MailParser {
      private readonly left: TextBudget;
      /** The parts that were cut: of which kind, inside a multipart/alternative or not, the message itself or not. */
      private readonly cut = new Map<ParserNode, { kind: keyof TextBudget; alternative: boolean; root: boolean }>();

      constructor(options: MailParserOptions, budget: TextBudget) {
        super(options);
        this.left = { ...budget };
        const internals = this as unknown as ParserInternals;
        const processChunk = internals.processChunk.bind(this);
        internals.processChunk = (data, done) => {
          const node = internals.curnode;
          if (data.type === 'body' && data.value && node && node.decoder && node.isAttachment === false) {
            const kind = node.contentType === 'text/html' ? 'html' : 'text';
            if (data.value.length > this.left[kind]) {
              let alternative = false;
              for (let p = node.parent; p; p = p.parent) alternative ||= p.contentType === 'multipart/alternative';
              this.cut.set(node, { kind, alternative, root: Boolean(node.root) });
              if (this.left[kind] <= 0) return void setImmediate(done);
              data = { ...data, value: data.value.subarray(0, this.left[kind]) };
            }
            this.left[kind] -= data.value!.length;
          }
          processChunk(data, done);
        };
      }

      /**
       * Whether the text and the HTML MailParser produced are cut. MailParser makes HTML
       * from text parts outside a multipart/alternative when the message has HTML too,
       * and text from HTML parts when it has no text part (or the HTML part stands
       * outside an alternative): those are cut when their source was.
       */
      get truncated(): { text: boolean; html: boolean } {
        const { hasText, hasHtml } = this as unknown as ParserInternals;
        const cut = [...this.cut.values()];
        return {
          text: cut.some((c) => c.kind === 'text' || (c.root && !hasText) || (!c.alternative && Boolean(hasText))),
          html: cut.some((c) => c.kind === 'html' || (!c.alternative && Boolean(hasHtml))),
        };
      }
    },
);
export type BoundedMailParser = InstanceType<ReturnType<typeof boundedMailParserClass>>;
export const boundedMailParser = (options: MailParserOptions, budget: TextBudget): BoundedMailParser => new (boundedMailParserClass())(options, budget);

/** What a streaming parse yields besides the attachments, which go to `onAttachment` as they come. */
interface ParsedParts {
  headers?: Headers;
  headerLines: Array<{ key: string; line: string }>;
  text?: string;
  html?: string | false;
  error?: Error;
}

/**
 * Drives a parser: collects headers and text, hands each attachment (with its
 * position, 1-based) to `onAttachment`, which must read or drain its content and
 * call `release` (MailParser waits for that before it goes on). Resolves at the end
 * or at the first error, never rejects.
 */
export function collect(parser: MailParser, onAttachment: (part: AttachmentStream, position: number) => void): Promise<ParsedParts> {
  const parts: ParsedParts = { headerLines: [] };
  let position = 0;
  return new Promise((resolve) => {
    parser.on('headers', (h: Headers) => {
      parts.headers = h;
    });
    parser.on('headerLines', (lines: Array<{ key: string; line: string }>) => {
      parts.headerLines = lines;
    });
    parser.on('data', (part: AttachmentStream | MessageText) => {
      if (part.type === 'text') {
        parts.text = part.text;
        parts.html = part.html;
      } else onAttachment(part, ++position);
    });
    parser.on('end', () => resolve(parts));
    parser.on('error', (err: Error) => resolve({ ...parts, error: err }));
    // destroyed before its end (the input was abandoned): no 'end' and perhaps no error will come
    parser.on('close', () => resolve({ ...parts, error: parts.error ?? new Error('message not received whole') }));
  });
}

/** Counts an attachment's decoded bytes and lets the parser go on; `done` gets the count. */
export function drain(part: AttachmentStream, done: (size: number) => void): void {
  let size = 0;
  part.content.on('data', (chunk: Buffer) => {
    size += chunk.length;
  });
  part.content.on('end', () => {
    done(size);
    part.release?.();
  });
}

const EMPTY_SUMMARY: MessageSummary = { from: null, to: [], cc: [], subject: '', date: null, messageId: null, attachments: [], snippet: '' };

/** The summary from what a parse yielded: the headers, the start of the text, the attachments' metadata. */
function summaryOf(parts: ParsedParts, attachments: AttachmentInfo[]): MessageSummary {
  const searchText = plainText(parts.text, parts.html, SUMMARY_LIMITS.searchText);
  const result: MessageSummary = {
    ...EMPTY_SUMMARY,
    ...summaryFromHeaders(parts.headers, true, parts.headerLines),
    attachments: attachments.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1))).slice(0, SUMMARY_LIMITS.attachments),
    searchText,
    snippet: searchText.slice(0, SUMMARY_LIMITS.snippet).trim(),
  };
  if (parts.error) result.parseError = (parts.error.message || 'unreadable message').slice(0, 500);
  return result;
}

/** MailParser over a whole message (attachments drained, text bounded): input, and the summary at its end (exported for the fast path's tests). */
export function mailparserSummary(): { input: Writable; summary: Promise<MessageSummary> } {
  // Text-to-HTML and HTML-to-text conversions are for display; the summary needs neither.
  const parser = boundedMailParser({ skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true }, { text: TEXT_BODY_CAP, html: TEXT_BODY_CAP });
  const attachments: AttachmentInfo[] = [];
  const summary = collect(parser, (part, position) => drain(part, (size) => attachments.push(attachmentInfo(position, part, size)))).then((parts) => summaryOf(parts, attachments));
  return { input: parser, summary };
}

/** The header fields summaryFromHeaders reads (authorsOf reads From and Sender from the raw lines). */
const SUMMARY_FIELDS = new Set(['subject', 'message-id', 'from', 'to', 'cc', 'date']);
/** One MailParser per thread, never fed: its header decoding (processHeaders, internal to mailparser 3.x) is what the summary's headers come from. */
let headerDecoder: { processHeaders(lines: Array<{ key: string; line: string }>): Headers } | null = null;

/**
 * What MailParser would yield for a message that is one inline text/plain or text/html
 * body, without running MailParser: its splitter's own header node (mailsplit MimeNode,
 * fed the header lines as the splitter feeds them), its header decoding, and the same
 * transfer, format=flowed and charset decoders over the first TEXT_BODY_CAP bytes of
 * the body. MailParser costs much more than that (a byte-by-byte splitter, a timer per
 * chunk, many objects per message: on the analysis thread, half of its CPU and most
 * of its memory under load). Null when the message is anything else, or anything went
 * wrong: the caller then runs MailParser, which decides what it is.
 * core/summary-fast-path.test.ts compares both over the corpus and many made-up messages.
 */
export async function singleTextParts(message: Buffer): Promise<ParsedParts | null> {
  const { MailParser, MimeNode, FlowedDecoder, libmime } = mailparser();
  const node = new MimeNode(false, {});
  let at = 0;
  for (let ended = false; !ended; ) {
    const lf = message.indexOf(0x0a, at);
    if (lf < 0) return null; // a header that never ends
    ended = node.addHeaderChunk(message.subarray(at, lf + 1));
    at = lf + 1;
  }
  if (node.headerCost() > HEADER_SCAN_LIMIT / 2) return null; // near mailsplit's own limit: let it judge
  node.parseHeaders();
  // as MailParser's createNode sees the root node
  const contentType = node.contentType || 'text/plain';
  if (contentType !== 'text/plain' && contentType !== 'text/html') return null;
  if (node.disposition && node.disposition !== 'inline') return null; // an attachment
  headerDecoder ??= new MailParser() as unknown as NonNullable<typeof headerDecoder>;
  const headers = headerDecoder.processHeaders(node.headers.getList().filter((line) => SUMMARY_FIELDS.has(line.key)));
  // as MailParser decodes an inline text node
  const streams: Transform[] = [node.getDecoder()];
  if (node.flowed) streams.push(new FlowedDecoder({ delSp: node.delSp }));
  const charset = node.charset || 'utf-8';
  if (!['ascii', 'usascii', 'utf8'].includes(charset.toLowerCase().replace(/[^a-z0-9]+/g, ''))) {
    try {
      streams.push(libmime.createDecodeStream(charset));
    } catch {
      // not decoded, as MailParser leaves it
    }
  }
  const content = await new Promise<string | null>((resolve) => {
    const chunks: Buffer[] = [];
    for (let i = 0; i + 1 < streams.length; i++) streams[i].pipe(streams[i + 1]);
    for (const stream of streams) stream.on('error', () => resolve(null));
    const last = streams[streams.length - 1];
    last.on('data', (chunk: Buffer | string) => chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    last.on('end', () => resolve(Buffer.concat(chunks).toString().replace(/\r?\n/g, '\n')));
    streams[0].end(message.subarray(at, at + TEXT_BODY_CAP));
  });
  if (content === null) return null;
  const parts: ParsedParts = { headers, headerLines: node.headers.lines };
  // MailParser's text of a lone HTML body is empty with skipHtmlToText; an empty body gives neither
  if (content && contentType === 'text/html') Object.assign(parts, { text: '', html: content });
  else if (content) parts.text = content;
  return parts;
}

/**
 * A parser to pipe the message into while it streams to the BlobStore: it keeps the
 * headers, the start of the text and the attachment metadata and drains attachment
 * bodies, so memory stays bounded whatever the message holds. A message mailparser
 * cannot read still yields a summary (with `parseError`): the raw bytes are what matters.
 *
 * A message whose header says it is a single text body is held (its header, and its
 * body up to TEXT_BODY_CAP: past that there is nothing the summary reads) and read
 * by singleTextParts at its end; any other message streams into MailParser.
 */
export function createSummaryParser(): { input: Writable; summary: Promise<MessageSummary> } {
  let resolve!: (summary: MessageSummary) => void;
  const summary = new Promise<MessageSummary>((r) => (resolve = r));
  let single: boolean | null = null; // null: the header has not ended yet
  const cut = new BodyCut((header) => {
    single = isSingleTextBody(header);
    return single ? TEXT_BODY_CAP : Infinity;
  });
  let held: Buffer[] = [];
  let parser: Writable | null = null;
  let ended = false;
  /** Writes `pieces`; calls back once `target` can take more (or is gone). */
  const send = (target: Writable, pieces: Buffer[], callback: () => void) => {
    const waits = pieces.map((piece) => whenWritable(target, piece)).filter((w) => w !== null);
    if (waits.length) Promise.all(waits).then(() => callback());
    else callback();
  };
  /** From now on the message streams into MailParser. */
  const toParser = (): Writable => {
    const run = mailparserSummary();
    run.summary.then(resolve);
    parser = run.input;
    // a parser that gave up takes no more input: writers must not be left waiting. MailParser only
    // emits its error (mailsplit's header or part limits) and would go on buffering and never drain
    parser.on('error', () => parser!.destroy()); // reported through the summary (parseError)
    parser.on('close', () => input.destroy());
    return parser;
  };
  const input: Writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (parser) return parser.destroyed || parser.writableEnded ? callback() : send(parser, [chunk], callback);
      const piece = cut.write(chunk);
      if (piece.length) held.push(piece);
      // a single text body is held; so is a header that has not ended (unless BodyCut gave up on it)
      if (single === true || (single === null && !piece.length)) return callback();
      const pieces = held;
      held = [];
      send(toParser(), pieces, callback);
    },
    // also runs after a normal end (autoDestroy); before its end, the message was abandoned: the summary says so instead of never coming
    destroy(err, callback) {
      if (!ended) {
        if (parser && !parser.destroyed) parser.destroy();
        else if (!parser) resolve({ ...EMPTY_SUMMARY, parseError: 'message not received whole' });
      }
      held = [];
      callback(err);
    },
    final(callback) {
      ended = true;
      if (parser) {
        if (!parser.destroyed && !parser.writableEnded) parser.end();
        return callback();
      }
      const rest = cut.end();
      const message = Buffer.concat(rest.length ? [...held, rest] : held);
      held = [];
      const viaParser = (): Promise<MessageSummary> => {
        const run = mailparserSummary();
        run.input.on('error', () => undefined);
        run.input.end(message);
        return run.summary;
      };
      (single ? singleTextParts(message).then((parts) => (parts ? summaryOf(parts, []) : viaParser()), viaParser) : viaParser()).then(resolve);
      callback();
    },
  });
  return { input, summary };
}
