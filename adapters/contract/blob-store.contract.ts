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

    it(
      'list: every blob in key order with its size and time of writing, under a prefix, page after page',
      withBlobs(async (blobs) => {
        const listed = async (prefix?: string) => {
          const out: Array<{ key: string; size: number; lastModified: number }> = [];
          for await (const blob of blobs.list(prefix)) out.push(blob);
          return out;
        };
        expect(await listed()).toEqual([]);
        const t0 = Date.now();
        await blobs.put('raw/x.eml', Buffer.from('xx'));
        await blobs.put('att/b', Buffer.from('bbb'));
        await blobs.put('att/a', Buffer.from('a'));
        await blobs.put('raw/big.eml', Buffer.alloc(opts.largeBytes, 1));
        const all = await listed();
        expect(all.map((b) => [b.key, b.size])).toEqual([['att/a', 1], ['att/b', 3], ['raw/big.eml', opts.largeBytes], ['raw/x.eml', 2]]);
        for (const b of all) expect(b.lastModified).toBeGreaterThanOrEqual(t0 - 2000); // Blob Storage keeps whole seconds
        for (const b of all) expect(b.lastModified).toBeLessThanOrEqual(Date.now() + 2000);
        expect((await listed('att/')).map((b) => b.key)).toEqual(['att/a', 'att/b']);
        await blobs.delete('att/a');
        expect((await listed('att/')).map((b) => b.key)).toEqual(['att/b']);
        // more than one page of any adapter's listing (SQLite pages by 500)
        const many = Array.from({ length: 520 }, (_, i) => `page/${String(i).padStart(4, '0')}`);
        for (let i = 0; i < many.length; i += 40) await Promise.all(many.slice(i, i + 40).map((k) => blobs.put(k, Buffer.from(k))));
        expect((await listed('page/')).map((b) => b.key)).toEqual(many);
      }),
    );

    it(
      'removeUnfinished never touches a stored blob, in a dry run or not',
      withBlobs(async (blobs) => {
        await blobs.put('raw/kept.eml', Buffer.alloc(opts.largeBytes, 3));
        const future = Date.now() + 3_600_000;
        expect(await blobs.removeUnfinished({ olderThan: future, dryRun: true })).toEqual({ count: 0, bytes: 0 });
        expect(await blobs.removeUnfinished({ olderThan: future, dryRun: false })).toEqual({ count: 0, bytes: 0 });
        expect(await blobs.stat('raw/kept.eml')).toEqual({ size: opts.largeBytes });
      }),
    );
  });
}
