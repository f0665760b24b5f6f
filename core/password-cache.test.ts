import { describe, expect, it } from 'vitest';
import { VerifiedPasswordCache, type PasswordHasher } from './auth';

/** A stand-in for bcrypt that counts its calls: a password matches the hash `hash-of-<password>`. */
function countingHasher() {
  const calls: string[] = [];
  const hasher: PasswordHasher = {
    hash: async (password) => `hash-of-${password}`,
    verify: async (password, hash) => {
      calls.push(`${password}/${hash}`);
      return hash === `hash-of-${password}`;
    },
    burn: async () => false,
  };
  return { hasher, calls };
}

describe('VerifiedPasswordCache (a password that verified is not run through bcrypt again)', () => {
  it('the second check of the right password skips bcrypt; a wrong one always goes to bcrypt and fails', async () => {
    const { hasher, calls } = countingHasher();
    const cache = new VerifiedPasswordCache(hasher, 60_000);
    expect(await cache.verify('right', 'hash-of-right')).toBe(true);
    expect(await cache.verify('right', 'hash-of-right')).toBe(true);
    expect(await cache.verify('right', 'hash-of-right')).toBe(true);
    expect(calls).toEqual(['right/hash-of-right']);
    expect(await cache.verify('wrong', 'hash-of-right')).toBe(false);
    expect(await cache.verify('righ', 'hash-of-right')).toBe(false);
    expect(await cache.verify('right ', 'hash-of-right')).toBe(false);
    expect(calls).toHaveLength(4);
    // a failure forgets nothing: the right password is still known
    expect(await cache.verify('right', 'hash-of-right')).toBe(true);
    expect(calls).toHaveLength(4);
  });

  it('a changed password (a new stored hash) is checked by bcrypt: the old password does not pass on the cache', async () => {
    const { hasher, calls } = countingHasher();
    const cache = new VerifiedPasswordCache(hasher, 60_000);
    expect(await cache.verify('old', 'hash-of-old')).toBe(true);
    expect(await cache.verify('old', 'hash-of-new')).toBe(false);
    expect(await cache.verify('new', 'hash-of-new')).toBe(true);
    expect(calls).toEqual(['old/hash-of-old', 'old/hash-of-new', 'new/hash-of-new']);
  });

  it('an entry lives its time; 0 turns the cache off; the oldest entry goes when it is full', async () => {
    let now = 1_000;
    const timed = countingHasher();
    const cache = new VerifiedPasswordCache(timed.hasher, 1_000, 2, () => now);
    await cache.verify('a', 'hash-of-a');
    now += 999;
    await cache.verify('a', 'hash-of-a');
    expect(timed.calls).toHaveLength(1);
    now += 2;
    await cache.verify('a', 'hash-of-a');
    expect(timed.calls).toHaveLength(2);
    await cache.verify('b', 'hash-of-b');
    await cache.verify('c', 'hash-of-c'); // full: "a" goes
    await cache.verify('c', 'hash-of-c');
    await cache.verify('b', 'hash-of-b');
    expect(timed.calls).toHaveLength(4);
    await cache.verify('a', 'hash-of-a');
    expect(timed.calls).toHaveLength(5);

    const off = countingHasher();
    const none = new VerifiedPasswordCache(off.hasher, 0);
    await none.verify('a', 'hash-of-a');
    await none.verify('a', 'hash-of-a');
    expect(off.calls).toHaveLength(2);
  });
});
