import { PassThrough } from 'node:stream';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { MailError, isMailError, surelyNotDone } from '../../core/errors';
import { blobKeys } from '../../core/blob-keys';
import { newId } from '../../core/ids';
import type { Logger } from '../../core/logger';
import type { BlobStore, QueueSender } from '../../core/ports';
import { receivedHeader } from '../../core/received';
import type { Envelope, InboundQueueMessage } from '../../core/types';
import { AuthResultsFilter } from '../../core/auth-header-filter';
import type { SubmissionPort } from '../../core/outbound';
import { smtpReply } from '../reply';
import { sessionUser } from './mail-from';
import { hostedAtRcpt } from './rcpt-to';
import { PARSER_UNAVAILABLE } from '../analysis-pool';
import { analysisBodyBudget, type MessageAnalyzer } from '../message-analysis';
import { eachChunk, whenWritable } from '../../core/streams';
import { BodyCut } from '../../core/body-cut';
import type { DataGate } from '../data-gate';

export interface DataHookDeps {
  blobs: BlobStore;
  queue: QueueSender<InboundQueueMessage>;
  /** Authenticated sessions hand their message here instead (sending); absent: MX only. */
  submission?: SubmissionPort;
  logger: Logger;
  hostname: string;
  maxMessageBytes: number;
  /**
   * The summary and, for mail from outside (not authenticated submission), SPF/DKIM/DMARC/ARC:
   * the analysis thread (AnalysisPool) in the edge, inProcessAnalyzer in tests.
   */
  analyze: MessageAnalyzer;
  /** NIMBUS_DMARC_REJECT: a DMARC failure under p=reject is refused (550 5.7.1) instead of filed into Junk. */
  dmarcReject: boolean;
  /** The slots for receiving (data-gate.ts): the session's is given back once its message is stored. */
  gate?: DataGate;
}

export function envelopeOf(session: SMTPServerSession): Envelope {
  return {
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    rcptTo: session.envelope.rcptTo.map((r) => r.address),
    remoteAddress: session.remoteAddress,
    clientHostname: session.clientHostname,
    helo: session.hostNameAppearsAs,
    authUser: sessionUser(session)?.email ?? (session.user ? String(session.user) : null),
  };
}

/**
 * DATA: the message streams to the BlobStore (with a Received header in front),
 * through mailparser and through mailauth at the same time; then one queue message
 * is sent. The reply is 250 only once both the blob and the queue message are
 * durable; any failure before that is 451 4.3.0. The blob is removed when the queue
 * message surely was not sent; when that is unknown (a timeout after the send went
 * out) it is kept, since the message may be queued and filed: a body must never go
 * missing under a record.
 *
 * Authentication-Results: the verdict is known only after the last byte, when the
 * blob has already streamed. So the blob gets the message with every incoming
 * Authentication-Results field that claims this host removed (a filter on the header
 * block, bounded memory), and this host's own header travels beside it (queue
 * message → stored message `rawPrefix`); every reader of the raw message emits it
 * first. The alternatives cost more: buffering the message (25 MB per session) or
 * writing the blob twice.
 *
 * An authenticated session is a submission: its bytes are stored as the client sent
 * them (no Received header; Authentication-Results claiming this host removed as
 * always) and handed to core/outbound.ts (From check, signing, Sent copy, queues),
 * which answers for the blob from then on; 250 once it is done.
 */
export function createDataHook(deps: DataHookDeps) {
  return (stream: SMTPServerDataStream, session: SMTPServerSession, reply: (err?: Error | null, message?: string) => void): void => {
    const callback = (err?: Error | null, message?: string) => {
      deps.gate?.leave(session); // the store settling gave it back already, unless the reply came first (a client gone mid-message)
      reply(err, message);
    };
    const id = newId();
    const receivedAt = Date.now();
    const envelope = envelopeOf(session);
    const rawBlobKey = blobKeys.inbound(id);
    // not a child logger: making one costs a redaction pass over its bindings for every message, logged or not
    const log = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => deps.logger[level]({ session: session.id, inboundId: id, ...fields }, msg);

    const user = deps.submission ? sessionUser(session) : null;
    const blobInput = new PassThrough();
    if (!user) blobInput.write(receivedHeader({ envelope, byHost: deps.hostname, id, receivedAt, tls: Boolean(session.secure) }));
    const arFilter = new AuthResultsFilter(deps.hostname);
    const blobPut = deps.blobs.put(rawBlobKey, blobInput);
    // awaited below (a rejection before then must not be unhandled); once the bytes are stored the
    // session's DATA slot goes back (data-gate.ts): what is left to wait for holds none of them
    const leaveGate = () => deps.gate?.leave(session);
    blobPut.then(leaveGate, leaveGate);
    // mail from outside is authenticated; authenticated submission (session.user) is the sender's own
    const client = session.user ? null : { ip: session.remoteAddress, helo: session.hostNameAppearsAs, sender: envelope.mailFrom };
    const analysis = deps.analyze(client);
    const analysisInput = analysis.input;
    // only what the analysis reads goes to it: the header, and of the body what it needs
    const analysisCut = new BodyCut(analysisBodyBudget(client !== null));
    analysisInput.on('error', () => undefined); // the analyses report their own trouble (parseError, permerror)

    const run = async (): Promise<string> => {
      let bytes = 0;
      let tooBig = false;
      await eachChunk(stream, (chunk: Buffer) => {
        bytes += chunk.length;
        if (tooBig) return; // keep reading: the client is owed a reply after its final dot
        if (bytes > deps.maxMessageBytes) {
          tooBig = true;
          blobInput.destroy(new MailError('MessageTooBig'));
          analysisInput.destroy();
          return;
        }
        const forAnalysis = analysisCut.done ? null : analysisCut.write(chunk);
        const toBlob = whenWritable(blobInput, arFilter.write(chunk));
        const toAnalysis = forAnalysis?.length ? whenWritable(analysisInput, forAnalysis) : null;
        return toBlob && toAnalysis ? Promise.all([toBlob, toAnalysis]) : (toBlob ?? toAnalysis);
      });
      if (tooBig || stream.sizeExceeded) {
        await blobPut.catch(() => undefined);
        throw new MailError('MessageTooBig', `Message size exceeds fixed maximum message size of ${deps.maxMessageBytes} bytes`);
      }
      blobInput.end(arFilter.end());
      const held = analysisCut.end();
      if (held.length) analysisInput.write(held);
      analysisInput.end();
      const [{ size }, parsed, outcome] = await Promise.all([blobPut, analysis.summary, analysis.auth ? analysis.auth() : null]);
      if (user && deps.submission) {
        // without the summary there is no From to check: a fault of ours, so the client is asked to send again (451)
        if (parsed.parseError === PARSER_UNAVAILABLE) {
          await deps.blobs.delete(rawBlobKey).catch((e) => log('error', { err: e }, 'could not remove blob of a submission not taken'));
          throw new MailError('TemporaryFailure', 'Message analysis unavailable, please try again');
        }
        const client = { remoteAddress: envelope.remoteAddress, clientHostname: envelope.clientHostname, helo: envelope.helo };
        const hosted = hostedAtRcpt(session) ?? undefined; // RCPT TO looked each one up already
        const result = await deps.submission.submit({ user, mailFrom: envelope.mailFrom, recipients: envelope.rcptTo, hosted, rawBlobKey, size, summary: parsed, receivedAt, client });
        return result.id;
      }
      if (outcome && deps.dmarcReject && outcome.auth.dmarc === 'fail' && outcome.auth.dmarcPolicy === 'reject') {
        await deps.blobs.delete(rawBlobKey).catch((e) => log('error', { err: e }, 'could not remove blob of a rejected message'));
        log('info', { auth: outcome.auth }, 'DMARC policy reject: message refused');
        throw new MailError('DmarcRejected');
      }
      const rawPrefix = outcome?.header ?? null;
      const message: InboundQueueMessage = { id, envelope, rawBlobKey, size: size + (rawPrefix ? Buffer.byteLength(rawPrefix) : 0), receivedAt, summary: parsed, auth: outcome?.auth ?? null, rawPrefix };
      try {
        await deps.queue.send(id, message);
      } catch (err) {
        // the sender retries after our 451; the blob goes only if this message surely is not in the queue
        if (surelyNotDone(err)) await deps.blobs.delete(rawBlobKey).catch((e) => log('error', { err: e }, 'could not remove blob of a message that was not queued'));
        else log('warn', { rawBlobKey }, 'queue send outcome unknown: blob kept for the message that may be queued (the orphan sweeper removes it if none is)');
        throw err;
      }
      if (parsed.parseError) log('warn', { parseError: parsed.parseError }, 'message stored raw; mailparser could not read it');
      return id;
    };

    run().then(
      (queuedId) => {
        log('info', { size: stream.byteLength, rcpt: envelope.rcptTo.length }, 'message accepted');
        callback(null, `Ok: queued as ${queuedId}`);
      },
      (err) => {
        blobInput.destroy();
        analysisInput.destroy();
        const refusal = smtpReply(err);
        if (refusal.responseCode === 552 || (err as MailError).code === 'DmarcRejected') log('info', { bytes: stream.byteLength, code: (err as MailError).code }, 'message refused');
        else if (isMailError(err) && err.code !== 'TemporaryFailure') log('info', { code: err.code }, 'message refused');
        else log('error', { err }, 'message not accepted');
        callback(refusal);
      },
    );
  };
}
