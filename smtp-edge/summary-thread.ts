import type { Writable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { createSummaryParser } from '../core/mime';

/**
 * The parser thread behind SummaryPool: one mailparser per message in flight. Its
 * event loop does nothing else, so mailparser's many small asynchronous steps do not
 * wait behind hundreds of SMTP sessions, and the parsing runs on the second core.
 */
type Msg = { t: 's' | 'e' | 'a'; id: number } | { t: 'c'; id: number; data: Uint8Array };
const parsers = new Map<number, Writable>();
/** Bytes written but not yet acknowledged because the parser asked to wait (one 'drain' listener per parser). */
const unacked = new Map<number, number>();
const port = parentPort!;

port.on('message', (m: Msg) => {
  if (m.t === 's') {
    const { input, summary } = createSummaryParser();
    parsers.set(m.id, input);
    summary.then((s) => {
      parsers.delete(m.id);
      unacked.delete(m.id);
      port.postMessage({ id: m.id, summary: s });
    });
    return;
  }
  const input = parsers.get(m.id);
  if (!input) return;
  if (m.t === 'c') {
    const bytes = m.data.byteLength;
    const ack = () => port.postMessage({ id: m.id, ack: bytes });
    if (input.destroyed || input.writableEnded) return ack();
    const waiting = unacked.get(m.id);
    const accepted = input.write(Buffer.from(m.data.buffer, m.data.byteOffset, bytes));
    if (waiting !== undefined) unacked.set(m.id, waiting + bytes);
    else if (accepted) ack();
    else {
      unacked.set(m.id, bytes);
      input.once('drain', () => {
        port.postMessage({ id: m.id, ack: unacked.get(m.id) ?? 0 });
        unacked.delete(m.id);
      });
    }
  } else if (m.t === 'e') {
    input.end();
  } else {
    parsers.delete(m.id);
    unacked.delete(m.id);
    input.destroy();
  }
});
