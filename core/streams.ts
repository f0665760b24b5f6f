import type { Writable } from 'node:stream';

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
