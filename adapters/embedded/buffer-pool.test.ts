import { afterEach, describe, expect, it } from 'vitest';
import { BufferPool, MAX_POOLED_BYTES_EACH } from './buffer-pool';

const pools: BufferPool[] = [];
afterEach(() => {
  for (const pool of pools.splice(0)) pool.clear();
});
const newPool = () => {
  const pool = new BufferPool();
  pools.push(pool);
  return pool;
};

describe('BufferPool', () => {
  it('hands out views of the size asked for, on buffers of a power of two from 4 KB', () => {
    const pool = newPool();
    for (const [size, cls] of [
      [0, 4096],
      [1, 4096],
      [4096, 4096],
      [4097, 8192],
      [100_000, 131_072],
      [MAX_POOLED_BYTES_EACH, MAX_POOLED_BYTES_EACH],
    ]) {
      const view = pool.take(size);
      expect([view.length, view.byteOffset, view.buffer.byteLength]).toEqual([size, 0, cls]);
    }
  });

  it('gives a returned buffer to the next take of its class, and to no other class', () => {
    const pool = newPool();
    const first = pool.take(100_000);
    pool.give(first.buffer);
    expect(pool.pooledBytes).toBe(131_072);
    expect(pool.take(10_000).buffer).not.toBe(first.buffer); // another class: a new buffer
    const again = pool.take(70_000);
    expect(again.buffer).toBe(first.buffer);
    expect(again.length).toBe(70_000);
    expect(pool.pooledBytes).toBe(0);
    expect(pool.take(70_000).buffer).not.toBe(first.buffer); // taken already
  });

  it('keeps no buffer it did not make the size of, nor one over the largest class', () => {
    const pool = newPool();
    const big = pool.take(MAX_POOLED_BYTES_EACH + 1);
    expect(big.buffer.byteLength).toBe(MAX_POOLED_BYTES_EACH + 1);
    pool.give(big.buffer);
    pool.give(new ArrayBuffer(5000));
    pool.give(new ArrayBuffer(1024));
    pool.give(new ArrayBuffer(2 * MAX_POOLED_BYTES_EACH));
    expect(pool.pooledBytes).toBe(0);
  });

  it('holds at most 8 MB, however many buffers come back at once', () => {
    const pool = newPool();
    const taken = Array.from({ length: 100 }, () => pool.take(MAX_POOLED_BYTES_EACH));
    for (const view of taken) pool.give(view.buffer);
    expect(pool.pooledBytes).toBe(8 * 1024 * 1024);
    pool.clear();
    expect(pool.pooledBytes).toBe(0);
  });
});
