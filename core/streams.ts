import type { Readable, Writable } from 'node:stream';

/**
 * Writes `chunk`; resolves when `target` can take more (or is gone: a consumer that gave
 * up, as a verifier that stopped or a parser that was destroyed, never drains, and must
 * not stall its writer); null when it can at once, or is already gone.
 */
export function whenWritable(target: Writable, chunk: Buffer): Promise<void> | null {
  if (target.destroyed || target.writableEnded) return null;
  if (target.write(chunk)) return null;
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

/** The error `for await` gives for a stream that closed before its end (Node's code). */
const prematureClose = () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/**
 * Hands each chunk of `source` to `onChunk` in order, as `for await (const chunk of source)`
 * with the loop's body in `onChunk` would: a promise it returns is waited for (the stream
 * is paused meanwhile) before the next chunk, the end or an error is reported; resolves at
 * the end; rejects with the stream's error, with ERR_STREAM_PREMATURE_CLOSE when it closes
 * before its end, or with what `onChunk` threw, and then destroys the stream (as leaving
 * the loop by an exception does). The difference is cost: no async iterator, no promise
 * for every chunk and no end-of-stream watcher (about 2.5 us less per stream; the DATA
 * path reads two streams per message).
 */
export function eachChunk<T = Buffer>(source: Readable, onChunk: (chunk: T) => Promise<unknown> | null | undefined | void): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    /** The work on the chunk before, while it runs: what ends the loop waits for it. */
    let pending: Promise<unknown> | null = null;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('close', onClose);
      // onError stays: an error still to be emitted (destroy(err) emits it a tick later) is this loop's, and was reported or is moot
      if (err === undefined) return resolve();
      if (!source.destroyed) source.destroy();
      reject(err);
    };
    // the end, an error or a close reported once the chunk before is done with, as the loop would
    const after = (err?: unknown) => (pending ? void pending.then(() => settle(err), settle) : settle(err));
    const onData = (chunk: T) => {
      if (settled) return;
      let work;
      try {
        work = onChunk(chunk);
      } catch (err) {
        return settle(err);
      }
      if (!work) return;
      source.pause();
      const current = (pending = work.then(() => {
        if (pending === current) pending = null;
        if (!settled) source.resume();
      }));
      current.catch(settle);
    };
    const onEnd = () => after();
    const onError = (err: Error) => after(err);
    const onClose = () => after(source.readableEnded ? undefined : prematureClose());
    source.on('error', onError);
    if (source.readableEnded) return settle();
    if (source.destroyed) return settle(source.errored ?? prematureClose());
    source.on('end', onEnd);
    source.on('close', onClose);
    source.on('data', onData);
    source.resume(); // a stream paused before (readableFlowing false) flows only when told, as for await reads it regardless
  });
}
