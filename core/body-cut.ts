/*
 * The start of a message as the DATA path cuts it, with no MIME library: the SMTP edge's
 * main thread loads this, and mailparser (core/mime) only where a message is parsed.
 */

/** How much of a text body (single-part, or each text part) the summary parser reads: the search text is its first 4 KB of plain text; 16 KB leaves room for markup and encodings. */
export const TEXT_BODY_CAP = 16 * 1024;
export const HEADER_SCAN_LIMIT = 1024 * 1024;

const CONTENT_DISPOSITION = /^content-disposition:/im;
const CONTENT_TYPE = /^content-type:(.*)$/im;

/**
 * Decides from the top-level header whether the message is one plain text or HTML
 * body and nothing else (not multipart, no Content-Disposition, no name): then
 * mailparser would report no attachments whatever the body holds, and the summary
 * needs only the start of it.
 */
export function isSingleTextBody(header: string): boolean {
  const unfolded = header.replace(/\r?\n[ \t]+/g, ' ');
  if (CONTENT_DISPOSITION.test(unfolded)) return false;
  const type = CONTENT_TYPE.exec(unfolded)?.[1].trim() ?? null;
  if (type === null) return true; // RFC 2045: text/plain
  return /^text\/(plain|html)\s*(;|$)/i.test(type) && !/\bname\*?=/i.test(type);
}

/**
 * The start of a message, as far as a reader of it needs: the header block whole, then
 * at most `bodyBudget(header)` bytes of body (Infinity: all of it). Bytes are held until
 * the end of the header block is found; a header that has not ended within
 * HEADER_SCAN_LIMIT is not cut at all.
 */
export class BodyCut {
  /** The header block so far (until its end is found), and the last bytes of it: a blank line can straddle chunks. */
  private head: Buffer[] | null = [];
  private headBytes = 0;
  private tail = EMPTY;
  private budget = Infinity;

  constructor(private readonly bodyBudget: (header: string) => number) {}

  /** What to pass on of `chunk` (empty: nothing). Each chunk is searched once, so a header sent in tiny pieces costs no more than in one. */
  write(chunk: Buffer): Buffer {
    if (this.head) {
      // no blank line ended in what came before: one can only end in this chunk, starting at most 3 bytes earlier
      const probe = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
      const crlf = probe.indexOf('\r\n\r\n');
      const lf = probe.indexOf('\n\n');
      const endInProbe = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
      const before = this.headBytes;
      this.head.push(chunk);
      this.headBytes += chunk.length;
      if (endInProbe < 0 && this.headBytes < HEADER_SCAN_LIMIT) {
        this.tail = Buffer.from(probe.subarray(Math.max(0, probe.length - 3)));
        return EMPTY;
      }
      const head = this.head.length === 1 ? chunk : Buffer.concat(this.head, this.headBytes);
      this.head = null;
      this.tail = EMPTY;
      if (endInProbe < 0) return head;
      const end = before - (probe.length - chunk.length) + endInProbe;
      this.budget = this.bodyBudget(head.toString('latin1', 0, end));
      return head.subarray(0, end + this.take(head.length - end));
    }
    return this.budget === Infinity ? chunk : chunk.subarray(0, this.take(chunk.length));
  }

  /** What is still held at the end of the message (a header block that never ended). */
  end(): Buffer {
    const rest = this.head ? Buffer.concat(this.head, this.headBytes) : EMPTY;
    this.head = null;
    return rest;
  }

  /** Nothing more of the message will be passed on. */
  get done(): boolean {
    return this.head === null && this.budget === 0;
  }

  private take(available: number): number {
    const n = Math.min(this.budget, available);
    this.budget -= n;
    return n;
  }
}
const EMPTY = Buffer.alloc(0);

/** What the summary needs of a message's body: a single text body only up to TEXT_BODY_CAP. */
export const summaryBodyBudget = (header: string): number => (isSingleTextBody(header) ? TEXT_BODY_CAP : Infinity);
