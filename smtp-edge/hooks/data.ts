import { PassThrough, type Writable } from 'node:stream';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { MailError, surelyNotDone } from '../../core/errors';
import { blobKeys } from '../../core/blob-keys';
import { newId } from '../../core/ids';
import type { Logger } from '../../core/logger';
import type { BlobStore, QueueSender } from '../../core/ports';
import { receivedHeader } from '../../core/received';
import type { Envelope, InboundQueueMessage } from '../../core/types';
import { smtpReply } from '../reply';
import type { SummaryParserFactory } from '../summary-pool';

export interface DataHookDeps {
  blobs: BlobStore;
  queue: QueueSender<InboundQueueMessage>;
  logger: Logger;
  hostname: string;
  maxMessageBytes: number;
  /** core/mime's createSummaryParser, or the same on a thread of its own (SummaryPool). */
  createSummaryParser: SummaryParserFactory;
}

/** Resolves when `target` can take more (or is gone: a failed consumer must not stall the reader). */
function writeTo(target: Writable, chunk: Buffer): Promise<void> | undefined {
  if (target.destroyed || target.writableEnded) return undefined;
  if (target.write(chunk)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      target.off('drain', done);
      target.off('close', done);
      target.off('error', done);
      resolve();
    };
    target.on('drain', done);
    target.on('close', done);
    target.on('error', done);
  });
}

export function envelopeOf(session: SMTPServerSession): Envelope {
  return {
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    rcptTo: session.envelope.rcptTo.map((r) => r.address),
    remoteAddress: session.remoteAddress,
    clientHostname: session.clientHostname,
    helo: session.hostNameAppearsAs,
    authUser: session.user ? String(session.user) : null,
  };
}

/**
 * DATA: the message streams to the BlobStore (with a Received header in front) and
 * through mailparser at the same time; then one queue message is sent. The reply is
 * 250 only once both the blob and the queue message are durable; any failure before
 * that is 451 4.3.0. The blob is removed when the queue message surely was not sent;
 * when that is unknown (a timeout after the send went out) it is kept, since the
 * message may be queued and filed: a body must never go missing under a record.
 */
export function createDataHook(deps: DataHookDeps) {
  return (stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void): void => {
    const id = newId();
    const receivedAt = Date.now();
    const envelope = envelopeOf(session);
    const rawBlobKey = blobKeys.inbound(id);
    const log = deps.logger.child({ session: session.id, inboundId: id });

    const blobInput = new PassThrough();
    blobInput.write(receivedHeader({ envelope, byHost: deps.hostname, id, receivedAt, tls: Boolean(session.secure) }));
    const blobPut = deps.blobs.put(rawBlobKey, blobInput);
    blobPut.catch(() => undefined); // awaited below; a rejection before then must not be unhandled
    const { input: parserInput, summary } = deps.createSummaryParser();
    parserInput.on('error', () => undefined); // mailparser errors surface as summary.parseError

    const run = async (): Promise<string> => {
      let bytes = 0;
      let tooBig = false;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (tooBig) continue; // keep reading: the client is owed a reply after its final dot
        if (bytes > deps.maxMessageBytes) {
          tooBig = true;
          blobInput.destroy(new MailError('MessageTooBig'));
          parserInput.destroy();
          continue;
        }
        const waits = [writeTo(blobInput, chunk), writeTo(parserInput, chunk)].filter(Boolean);
        if (waits.length) await Promise.all(waits);
      }
      if (tooBig || stream.sizeExceeded) {
        await blobPut.catch(() => undefined);
        throw new MailError('MessageTooBig', `Message size exceeds fixed maximum message size of ${deps.maxMessageBytes} bytes`);
      }
      blobInput.end();
      parserInput.end();
      const [{ size }, parsed] = await Promise.all([blobPut, summary]);
      const message: InboundQueueMessage = { id, envelope, rawBlobKey, size, receivedAt, summary: parsed, auth: null };
      try {
        await deps.queue.send(id, message);
      } catch (err) {
        // the sender retries after our 451; the blob goes only if this message surely is not in the queue
        if (surelyNotDone(err)) await deps.blobs.delete(rawBlobKey).catch((e) => log.error({ err: e }, 'could not remove blob of a message that was not queued'));
        else log.warn({ rawBlobKey }, 'queue send outcome unknown: blob kept for the message that may be queued (the orphan sweeper removes it if none is)');
        throw err;
      }
      if (parsed.parseError) log.warn({ parseError: parsed.parseError }, 'message stored raw; mailparser could not read it');
      return id;
    };

    run().then(
      (queuedId) => {
        log.info({ size: stream.byteLength, rcpt: envelope.rcptTo.length }, 'message accepted');
        callback(null, `Ok: queued as ${queuedId}`);
      },
      (err) => {
        blobInput.destroy();
        parserInput.destroy();
        const reply = smtpReply(err);
        if (reply.responseCode === 552) log.info({ bytes: stream.byteLength }, 'message too big');
        else log.error({ err }, 'message not accepted');
        callback(reply);
      },
    );
  };
}
