import { Writable } from 'node:stream';
import { summaryBodyBudget } from '../core/body-cut';
import { createSummaryParser } from '../core/mime';
import { whenWritable } from '../core/streams';
import type { MessageSummary } from '../core/types';
import { SIGNATURE_FIELD, startInboundAuth, type AuthOutcome, type InboundAuthOptions } from './inbound-auth';

/** Who sent a message from outside: what SPF and the Authentication-Results header need. */
export interface AuthClient {
  ip: string;
  helo: string;
  sender: string;
}

/**
 * What the edge learns from a message while it streams: the summary (mailparser) and,
 * for mail from outside, SPF/DKIM/DMARC/ARC (mailauth). The DATA hook writes each
 * chunk once into `input`; `auth` (null when not asked or not configured) is called
 * after the last byte and resolves within the lookup deadline, never rejecting.
 */
export interface MessageAnalysis {
  input: Writable;
  summary: Promise<MessageSummary>;
  auth: (() => Promise<AuthOutcome>) | null;
}

/** `client` null: no authentication (authenticated submission, or none configured). */
export type MessageAnalyzer = (client: AuthClient | null) => MessageAnalysis;

/**
 * How much of a message's body its analysis reads, from the header block: the summary
 * reads a single text body only up to its cap, and authentication reads the body only
 * of a signed message. The edge sends the analysis no more than that (core/mime.ts
 * BodyCut), so the rest of a big single-part message never crosses to the analysis thread.
 * BodyCut's header ends no earlier than the one the verifier's gate finds (inbound-auth.ts
 * blankLineEnd): a signature field the verifier would see is in the header judged here,
 * so a signed message always goes whole.
 */
export const analysisBodyBudget =
  (authenticates: boolean) =>
  (header: string): number =>
    authenticates && SIGNATURE_FIELD.test(header) ? Infinity : summaryBodyBudget(header);

/**
 * Both analyses in the calling thread, fed from one input with flow control (the
 * slower consumer sets the pace). The edge runs this on the analysis thread
 * (analysis-pool.ts); tests and scripts may run it in place. `auth` null: never authenticate.
 */
export function inProcessAnalyzer(auth: InboundAuthOptions | null): MessageAnalyzer {
  return (client) => {
    const parser = createSummaryParser();
    parser.input.on('error', () => undefined); // mailparser errors surface as summary.parseError
    const verifier = auth && client ? startInboundAuth(auth, client) : null;
    verifier?.input.on('error', () => undefined); // a verifier that gave up (oversized header) yields permerror
    const targets = verifier ? [parser.input, verifier.input] : [parser.input];
    let ended = false;
    const input = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        const waits = targets.map((t) => whenWritable(t, chunk)).filter((w): w is Promise<void> => w !== null);
        if (waits.length === 0) return callback();
        Promise.all(waits).then(() => callback());
      },
      final(callback) {
        ended = true;
        for (const t of targets) if (!t.destroyed && !t.writableEnded) t.end();
        callback();
      },
      // also runs after a normal end (autoDestroy): only an early end aborts the analyses
      destroy(err, callback) {
        if (err || !ended) for (const t of targets) t.destroy();
        callback(err);
      },
    });
    return { input, summary: parser.summary, auth: verifier ? verifier.result : null };
  };
}
