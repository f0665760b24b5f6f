import type { KeyObject } from 'node:crypto';
import type * as Mailauth from 'mailauth';
import { lazy } from './lazy';

/**
 * mailauth, as this project loads it: every import of mailauth goes through here, and it
 * is loaded when first used (core/lazy): the SMTP edge's main thread, which neither signs
 * nor verifies, loads at most its SPF part (tools and lib/spf), for the domain checks.
 *
 * mailauth parses the signing key's PEM for every message it signs (~0.7 ms of CPU on
 * the main thread, as much as the RSA signature itself). Its signer takes the parser
 * from `lib/tools` when it is first loaded, so the parser is replaced by a memoised one
 * before mailauth loads: the same PEM gives the same KeyObject (a few domains' keys;
 * bounded). When something loaded mailauth earlier (a test importing it directly), the
 * signer keeps the plain parser: slower, the same signatures. `keyCacheActive()` says
 * which; a test checks that the server's own module graph gets the memoised one.
 */
interface Tools {
  getPrivateKey(key: string | Buffer): KeyObject;
  parseHeaders(buf: Buffer): unknown;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tools = lazy(() => require('mailauth/lib/tools') as Tools);

/** mailauth 4.x's MessageParser (the DKIM verifier's and signer's base class), as far as the replacement below uses it. */
interface MessageParserInternals {
  state: 'header' | 'body';
  stateBytes: number[];
  headers: unknown;
  headerChunks: Buffer[];
  lastByte?: number;
  messageHeaders(headers: unknown): Promise<void>;
  nextChunk(chunk: Buffer): Promise<void>;
}
type ProcessChunk = (this: MessageParserInternals, chunk: Buffer) => Promise<void>;
type EnsureLinebreaks = (this: MessageParserInternals, input: Buffer) => Generator<Buffer>;
const CRLF = Buffer.from('\r\n');

/**
 * mailauth's MessageParser finds the end of the header block byte by byte, copying an
 * array of the last four bytes for every byte, and normalises line ends byte by byte:
 * on the analysis thread that was the largest cost of authenticating an unsigned
 * message (its header alone), and much of its garbage. These replacements search with
 * indexOf and give the same results, quirks included (a bare LF right after CR LF is
 * left alone, since the original remembers the last byte that was not LF; an empty
 * header block at the very start is not seen as one): core/mailauth-parser.test.ts
 * runs both over the corpus in many chunkings. They go on the prototype when mailauth
 * is loaded here, so they apply to the verifier and the signer whoever loaded those.
 */
const processChunk: ProcessChunk = async function (chunk) {
  if (!chunk || !chunk.length) return;
  if (this.state === 'header') {
    const prev = this.stateBytes; // the last (up to four) bytes before this chunk
    const at = (i: number): number | undefined => (i >= 0 ? chunk[i] : prev[prev.length + i]);
    let end = -1;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
      const b1 = at(i - 1);
      if (b1 === 0x0a || (b1 === 0x0d && at(i - 2) === 0x0a)) {
        end = i;
        break;
      }
    }
    if (end < 0) {
      this.stateBytes = prev.concat(Array.from(chunk.subarray(Math.max(0, chunk.length - 4)))).slice(-4);
      this.headerChunks.push(chunk);
      return;
    }
    this.state = 'body';
    this.headerChunks.push(end === chunk.length - 1 ? chunk : chunk.subarray(0, end + 1));
    this.headers = tools().parseHeaders(Buffer.concat(this.headerChunks));
    await this.messageHeaders(this.headers);
    if (end === chunk.length - 1) return;
    chunk = chunk.subarray(end + 1);
  }
  await this.nextChunk(chunk);
};

const ensureLinebreaks: EnsureLinebreaks = function* (input) {
  let pos = 0;
  let last = this.lastByte;
  let previousLf = -1;
  for (let i = input.indexOf(0x0a); i !== -1; previousLf = i, i = input.indexOf(0x0a, i + 1)) {
    if (i > previousLf + 1) last = input[i - 1]; // the last byte that was not LF
    if (last === 0x0d) continue;
    yield pos === i ? CRLF : Buffer.concat([input.subarray(pos, i), CRLF]);
    pos = i + 1;
  }
  if (input.length && input[input.length - 1] !== 0x0a) last = input[input.length - 1];
  this.lastByte = last;
  if (pos === 0) yield input;
  else if (pos < input.length) yield input.subarray(pos);
};

/*
 * The parts this project uses, from their own files: mailauth's index also loads BIMI,
 * whose certificate and HTTP libraries are some 200 modules (about 8 MB of heap in
 * every thread that loads mailauth) that nothing here calls.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const mailauth = lazy(() => {
  const keyCacheActive = !require.cache[require.resolve('mailauth/lib/dkim/dkim-signer')];
  if (keyCacheActive) {
    const parse = tools().getPrivateKey;
    const keys = new Map<string, KeyObject>();
    tools().getPrivateKey = (key) => {
      const pem = typeof key === 'string' ? key : key.toString('latin1');
      let parsed = keys.get(pem);
      if (!parsed) {
        parsed = parse(key); // throws for a bad key, as before (nothing kept)
        if (keys.size >= 64) keys.clear();
        keys.set(pem, parsed);
      }
      return parsed;
    };
  }
  const { MessageParser } = require('mailauth/lib/dkim/message-parser') as { MessageParser: { prototype: { processChunk: ProcessChunk; ensureLinebreaks: EnsureLinebreaks } } };
  const originalMessageParser = { processChunk: MessageParser.prototype.processChunk, ensureLinebreaks: MessageParser.prototype.ensureLinebreaks };
  MessageParser.prototype.processChunk = processChunk;
  MessageParser.prototype.ensureLinebreaks = ensureLinebreaks;
  return {
    keyCacheActive,
    originalMessageParser,
    ...(require('mailauth/lib/dkim/sign') as Pick<typeof Mailauth, 'dkimSign'>),
    ...(require('mailauth/lib/dkim/verify') as Pick<typeof Mailauth, 'dkimVerify'>),
    ...(require('mailauth/lib/dmarc') as Pick<typeof Mailauth, 'dmarc'>),
    ...(require('mailauth/lib/arc') as Pick<typeof Mailauth, 'arc'>),
  };
});
// SPF on its own: the domain checks on the main thread evaluate SPF records and need nothing else of mailauth
const spfModule = lazy(() => require('mailauth/lib/spf') as Pick<typeof Mailauth, 'spf'>);
/* eslint-enable @typescript-eslint/no-require-imports */

export const dkimSign: typeof Mailauth.dkimSign = (...args) => mailauth().dkimSign(...args);
export const dkimVerify: typeof Mailauth.dkimVerify = (...args) => mailauth().dkimVerify(...args);
export const spf: typeof Mailauth.spf = (...args) => spfModule().spf(...args);
export const dmarc: typeof Mailauth.dmarc = (...args) => mailauth().dmarc(...args);
export const arc: typeof Mailauth.arc = (...args) => mailauth().arc(...args);
/** Loads mailauth now: a thread whose work is signing or authenticating does before it says it is ready. */
export const loadMailauth = (): void => {
  mailauth();
  spfModule();
};
/** Whether the signer got the memoised key parser (loads mailauth). */
export const keyCacheActive = (): boolean => mailauth().keyCacheActive;
/** mailauth's own MessageParser methods, before the replacements above (loads mailauth; for tests). */
export const originalMessageParser = (): { processChunk: ProcessChunk; ensureLinebreaks: EnsureLinebreaks } => mailauth().originalMessageParser;
export type { ARCResult, DKIMResult, DKIMVerifyResult, DMARCResult, DNSResolver, SPFResult } from 'mailauth';
