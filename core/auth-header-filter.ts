/**
 * Removes, from a message streaming through, every Authentication-Results header
 * field that claims to come from this host (its authserv-id is our host name): a
 * sender must not be able to plant "dkim=pass" under our name (RFC 8601 section 5).
 * Only the header block is looked at; the body passes untouched. Memory stays
 * bounded: a field is held only while its authserv-id is unknown, and an
 * Authentication-Results field whose authserv-id cannot be found within
 * `maxHoldBytes` is removed too (no honest header is that strange).
 */
export class AuthResultsFilter {
  private inHeader = true;
  /** Bytes of the current, unfinished line. */
  private line: Buffer[] = [];
  private lineBytes = 0;
  /** What happens to continuation lines of the current field. */
  private field: 'pass' | 'drop' | 'hold' = 'pass';
  /** An Authentication-Results field held while its authserv-id is unknown. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** A header line longer than this is let through (or dropped) as it streams, not held. */
  private overlong: 'pass' | 'drop' | null = null;
  private readonly host: string;

  constructor(
    hostname: string,
    private readonly maxHoldBytes = 16 * 1024,
  ) {
    this.host = hostname.toLowerCase().replace(/\.$/, '');
  }

  /** The bytes to pass on for this chunk (possibly fewer, possibly some held from before). */
  write(chunk: Buffer): Buffer {
    if (!this.inHeader) return chunk;
    // nothing held from an earlier chunk: whatever goes out now comes from this one, in order
    const fresh = this.lineBytes === 0 && this.heldBytes === 0 && !this.overlong;
    const out: Buffer[] = [];
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(0x0a, start);
      if (lf < 0) break;
      this.addToLine(chunk.subarray(start, lf + 1), out);
      start = lf + 1;
      this.endLine(out);
      if (!this.inHeader) {
        out.push(chunk.subarray(start));
        return passed(out, chunk, fresh);
      }
    }
    if (start < chunk.length) this.addToLine(chunk.subarray(start), out);
    return passed(out, chunk, fresh);
  }

  /** What is left at the end of the message (a last line without a line break). */
  end(): Buffer {
    const out: Buffer[] = [];
    if (this.inHeader && (this.lineBytes || this.overlong)) this.endLine(out);
    this.finishField(out);
    return Buffer.concat(out);
  }

  private addToLine(part: Buffer, out: Buffer[]): void {
    if (this.overlong) {
      if (this.overlong === 'pass') out.push(part);
      return;
    }
    this.line.push(part);
    this.lineBytes += part.length;
    if (this.lineBytes > this.maxHoldBytes) {
      // an endless line: decide on what has come so far, then stream the rest of the line
      const text = Buffer.concat(this.line);
      this.line = [];
      this.lineBytes = 0;
      const continuation = text[0] === 0x20 || text[0] === 0x09;
      if (!continuation) this.startField(text, out);
      else if (this.field === 'hold') this.holdMore(text, out);
      else if (this.field === 'pass') out.push(text);
      if (this.field === 'hold') {
        // still undecided after this much: not an honest header
        this.field = 'drop';
        this.held = [];
        this.heldBytes = 0;
      }
      this.overlong = this.field === 'pass' ? 'pass' : 'drop';
    }
  }

  private endLine(out: Buffer[]): void {
    if (this.overlong) {
      this.overlong = null;
      return;
    }
    const text = Buffer.concat(this.line);
    this.line = [];
    this.lineBytes = 0;
    if (text.length === 0) return;
    const first = text[0];
    if (first === 0x0d || first === 0x0a) {
      if (text.length <= 2 && (text.length === 1 || text[1] === 0x0a)) {
        // the blank line: the header block ends here
        this.finishField(out);
        this.inHeader = false;
        out.push(text);
        return;
      }
    }
    if (first === 0x20 || first === 0x09) {
      // a continuation of the current field
      if (this.field === 'pass') out.push(text);
      else if (this.field === 'hold') this.holdMore(text, out);
      return;
    }
    this.startField(text, out);
  }

  /** A new header field begins with `text`: an Authentication-Results field is held until its authserv-id shows, any other passes. */
  private startField(text: Buffer, out: Buffer[]): void {
    this.finishField(out);
    if (this.isArStart(text)) {
      this.field = 'hold';
      this.held = [];
      this.heldBytes = 0;
      this.holdMore(text, out);
    } else {
      this.field = 'pass';
      out.push(text);
    }
  }

  private isArStart(text: Buffer): boolean {
    return /^authentication-results[ \t]*:/i.test(text.subarray(0, 64).toString('latin1'));
  }

  private holdMore(text: Buffer, out: Buffer[]): void {
    this.held.push(text);
    this.heldBytes += text.length;
    const verdict = this.decide(false);
    if (verdict === 'ours' || (verdict === 'unknown' && this.heldBytes > this.maxHoldBytes)) {
      this.field = 'drop';
      this.held = [];
      this.heldBytes = 0;
    } else if (verdict === 'theirs') {
      out.push(...this.held);
      this.field = 'pass';
      this.held = [];
      this.heldBytes = 0;
    }
  }

  /** The field is complete (the next one starts, or the header ends). */
  private finishField(out: Buffer[]): void {
    if (this.field === 'hold') {
      if (this.decide(true) === 'theirs') out.push(...this.held);
      this.held = [];
      this.heldBytes = 0;
    }
    this.field = 'pass';
  }

  /** Whose Authentication-Results the held field is: the authserv-id after the colon and any comments. */
  private decide(complete: boolean): 'ours' | 'theirs' | 'unknown' {
    const text = Buffer.concat(this.held).toString('latin1');
    let i = text.indexOf(':') + 1;
    // CFWS: white space, folding and (nested) comments
    for (;;) {
      while (i < text.length && /[ \t\r\n]/.test(text[i])) i++;
      if (text[i] !== '(') break;
      let depth = 0;
      for (; i < text.length; i++) {
        if (text[i] === '\\') i++;
        else if (text[i] === '(') depth++;
        else if (text[i] === ')' && --depth === 0) {
          i++;
          break;
        }
      }
      if (depth > 0) return complete ? 'ours' : 'unknown'; // an unclosed comment: not honest
    }
    const rest = text.slice(i);
    const match = /^([^\s;()]+)([\s;()]|$)/.exec(rest);
    if (!match || (!complete && match[2] === '')) return complete ? (match ? this.verdictFor(match[1]) : 'ours') : 'unknown';
    return this.verdictFor(match[1]);
  }

  private verdictFor(id: string): 'ours' | 'theirs' {
    const authservId = id.toLowerCase().replace(/^"|"$/g, '').replace(/\.$/, '');
    return authservId === this.host ? 'ours' : 'theirs';
  }
}

/**
 * The pieces of `chunk` that go out, as one Buffer. When all of it goes out (the usual case:
 * the whole header and the start of the body in the first chunk, nothing removed), that is
 * `chunk` itself: no copy of up to 64 KB per message.
 */
function passed(out: Buffer[], chunk: Buffer, fresh: boolean): Buffer {
  if (fresh) {
    let bytes = 0;
    for (const piece of out) bytes += piece.length;
    if (bytes === chunk.length) return chunk;
  }
  return Buffer.concat(out);
}
