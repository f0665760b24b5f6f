import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BlobStore } from '../../core/ports';
import { withFresh } from './harness';

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** The BlobStore contract, run by every adapter (files+SQLite now, Blob Storage with the Azure issue). */
export function blobStoreContract(name: string, make: () => Promise<{ blobs: BlobStore; cleanup(): Promise<void> }>, opts: { largeBytes: number }): void {
  describe(`BlobStore contract: ${name}`, () => {
    const withBlobs = (fn: (blobs: BlobStore) => Promise<void>) => withFresh(make, undefined, ({ blobs }) => fn(blobs));

    it(
      'missing keys are null, deleting them is fine',
      withBlobs(async (blobs) => {
        expect(await blobs.get('nope')).toBeNull();
        expect(await blobs.getBuffer('nope')).toBeNull();
        expect(await blobs.stat('nope')).toBeNull();
        await blobs.delete('nope');
      }),
    );

    it(
      'put/get round-trips bytes exactly (small buffer and large stream)',
      withBlobs(async (blobs) => {
        const small = Buffer.from([0, 1, 2, 255, 13, 10, 46]);
        expect(await blobs.put('raw/small.eml', small)).toEqual({ size: small.length });
        expect(await blobs.getBuffer('raw/small.eml')).toEqual(small);
        const big = Buffer.alloc(opts.largeBytes);
        for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
        const source = Readable.from((function* () {
          for (let i = 0; i < big.length; i += 64 * 1024) yield big.subarray(i, i + 64 * 1024);
        })());
        expect(await blobs.put('raw/big.eml', source)).toEqual({ size: big.length });
        expect((await read((await blobs.get('raw/big.eml'))!)).equals(big)).toBe(true);
        expect(await blobs.stat('raw/big.eml')).toEqual({ size: big.length });
      }),
    );

    it(
      'overwrite replaces, delete removes',
      withBlobs(async (blobs) => {
        await blobs.put('k', Buffer.from('one'));
        await blobs.put('k', Buffer.from('two!'));
        expect((await blobs.getBuffer('k'))!.toString()).toBe('two!');
        await blobs.delete('k');
        expect(await blobs.get('k')).toBeNull();
      }),
    );

    it(
      'a source that fails mid-stream rejects and leaves nothing under the key',
      withBlobs(async (blobs) => {
        const failing = Readable.from((async function* () {
          yield Buffer.alloc(opts.largeBytes / 2, 1);
          yield Buffer.alloc(opts.largeBytes / 2, 2);
          throw new Error('client went away');
        })());
        await expect(blobs.put('raw/broken.eml', failing)).rejects.toThrow();
        expect(await blobs.get('raw/broken.eml')).toBeNull();
      }),
    );
  });
}
