import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

/**
 * smtp-server looks for the end of DATA (CRLF.CRLF) and for escape dots by testing
 * every byte of the message in JavaScript; at 100 KB a message that loop was the
 * largest single cost on the edge's main thread. This is upstream's
 * `_feedDataStream` (smtp-server 3.21, pinned) with only that loop changed: the
 * candidates (a dot right after LF) are found with Buffer#indexOf, a native search,
 * and each is handled by upstream's own code, in the same order. One more change: the
 * four bytes upstream holds back at the end of each chunk are sent on their own instead
 * of copying every next chunk behind them, unless a line starts with a dot right there.
 * Everything that makes DATA safe (only CRLF.CRLF ends it, the escape dot at the start
 * and across chunk boundaries, the leading-dot rule against smuggling) is unchanged; the
 * smuggling, bare-LF and corpus tests (test/receive.test.ts, test/corpus.test.ts) and the
 * equivalence test beside this file hold it to that.
 */
let installed = false;

const END_SEQUENCE = Buffer.from('\r\n.\r\n');
const LEADING_TERMINATOR = Buffer.from('.\r\n');
const LF_DOT = Buffer.from('\n.');

interface Stream {
  _dataStream: NodeJS.WritableStream & { writable: boolean; destroyed: boolean };
  _lastBytes: Buffer | false;
  _atDataStart: boolean;
  _endDataMode(chunk: Buffer | false, remainder: Buffer, done: () => void): void;
  _countDataBytes(n: number): void;
  _feedDataStream(chunk: Buffer, done: () => void): void;
}

/**
 * A line starting with a dot where the bytes held from the last chunk meet the new one:
 * an LF among the held bytes followed by a dot, or the chunk opening with LF and a dot
 * (whose end sequence would begin in the held bytes).
 */
function dotAtSeam(held: Buffer, chunk: Buffer): boolean {
  for (let j = 0; j < held.length; j++) {
    if (held[j] === 0x0a && (j + 1 < held.length ? held[j + 1] : chunk[0]) === 0x2e) return true;
  }
  return chunk[0] === 0x0a && chunk[1] === 0x2e;
}

/** Upstream's own method, kept for the equivalence test. */
export const upstreamFeedDataStream = (SMTPStream.prototype as unknown as Stream)._feedDataStream;

export function installFastDataScan(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPStream.prototype as unknown as Stream;
  proto._feedDataStream = function (this: Stream, chunk: Buffer, done: () => void): void {
    const dataStream = this._dataStream;
    let buf: Buffer;
    const held = this._lastBytes && this._lastBytes.length ? this._lastBytes : null;
    if (held) {
      this._lastBytes = false;
      if (!this._atDataStart && chunk.length >= 8 && !dotAtSeam(held, chunk)) {
        // upstream prepends the held bytes with a copy of the whole chunk; when no line
        // starts with a dot at the seam, the scan of the chunk alone finds the same places
        // (every candidate lies in the chunk, CR and LF before it included), so the held
        // bytes go out first and the chunk is not copied. Two differences a reader of the data
        // stream can see, neither in the bytes: they arrive as one more (4-byte) piece, and the
        // wait for 'drain' follows the second write alone, so the stream may hold up to 4 bytes
        // more than its high-water mark before this waits
        this._countDataBytes(held.length);
        if (dataStream.writable) dataStream.write(held);
      } else {
        chunk = Buffer.concat([held, chunk], held.length + chunk.length);
      }
    }
    let len = chunk.length;
    if (this._atDataStart && len >= 3 && Buffer.compare(chunk.subarray(0, 3), LEADING_TERMINATOR) === 0) {
      this._endDataMode(false, chunk.subarray(3), done);
      return;
    }
    if (this._atDataStart && len >= 2 && chunk[0] === 0x2e && chunk[1] === 0x2e) {
      chunk = chunk.subarray(1);
      len--;
      this._atDataStart = false;
    }
    // upstream: for (i = 2; i < len - 2; i++) if (chunk[i] === 0x2e && chunk[i - 1] === 0x0a) { ... }
    for (let at = chunk.indexOf(LF_DOT, 1); at !== -1; at = chunk.indexOf(LF_DOT, at + 1)) {
      const i = at + 1;
      if (i >= len - 2) break;
      if (Buffer.compare(chunk.subarray(i - 2, i + 3), END_SEQUENCE) === 0) {
        buf = chunk.subarray(0, i);
        this._countDataBytes(buf.length);
        this._endDataMode(buf, chunk.subarray(i + 3), done);
        return;
      }
      if (chunk[i + 1] === 0x2e) {
        buf = chunk.subarray(0, i);
        this._lastBytes = false;
        this._countDataBytes(buf.length);
        if (dataStream.writable) dataStream.write(buf);
        const rest = chunk.subarray(i + 1);
        setImmediate(() => this._feedDataStream(rest, done));
        return;
      }
    }
    this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
    if (this._lastBytes.length < chunk.length) {
      buf = chunk.subarray(0, chunk.length - this._lastBytes.length);
      this._countDataBytes(buf.length);
      if (dataStream.writable) {
        const handled = dataStream.write(buf);
        if (!handled && !dataStream.destroyed) {
          const onDrain = () => {
            dataStream.removeListener('drain', onDrain);
            dataStream.removeListener('close', onDrain);
            done();
          };
          dataStream.once('drain', onDrain);
          dataStream.once('close', onDrain);
        } else {
          return done();
        }
      } else {
        return done();
      }
    } else {
      return done();
    }
  };
}
