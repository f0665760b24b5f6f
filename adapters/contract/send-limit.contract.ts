import { describe, expect, it } from 'vitest';
import { isMailError } from '../../core/errors';
import type { SendLimit } from '../../core/rate-limit';
import { withFresh } from './harness';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 27, 9, 30, 15);

/**
 * What every hourly send limit does, in memory or shared through a store. `make`
 * gives two handles on one count: for a shared limit two processes (each its own
 * store client), for the in-memory one the same object twice (one process is its
 * whole world).
 */
export function sendLimitContract(name: string, make: (maxPerHour: number) => Promise<{ limits: [SendLimit, SendLimit]; cleanup(): Promise<void> }>) {
  const fresh = (max: number, fn: (limits: [SendLimit, SendLimit]) => Promise<void>) => withFresh(make, max, ({ limits }) => fn(limits));
  const refusal = async (attempt: Promise<unknown>) => {
    const err = await attempt.then(() => null, (e: unknown) => e);
    expect(isMailError(err) && err.code).toBe('SendRateLimited');
    return (err as { details: { retryAfterSeconds: number } }).details.retryAfterSeconds;
  };

  describe(`SendLimit contract: ${name}`, () => {
    it('counts up to the limit, then refuses with the wait until the oldest message leaves the hour; other senders are not affected', fresh(3, async ([a, b]) => {
      expect(await a.check('u1', T0)).toBe(0);
      await a.take('u1', T0);
      await b.take('u1', T0 + 1_000);
      await a.take('u1', T0 + 2_000);
      expect(await b.check('u1', T0 + 3_000)).toBeGreaterThan(HOUR - 10_000);
      const retryAfter = await refusal(b.take('u1', T0 + 3_000));
      // exact (in memory) or counted by the minute (shared): within a minute of an hour
      expect(retryAfter).toBeGreaterThan(HOUR / 1000 - 10);
      expect(retryAfter).toBeLessThanOrEqual(HOUR / 1000 + 60);
      expect(await a.check('u2', T0 + 3_000)).toBe(0);
      await b.take('u2', T0 + 3_000);
    }));

    it('holds under parallel sends from both handles: exactly the limit pass', fresh(5, async ([a, b]) => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).take('u1', T0 + i)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused).toHaveLength(7);
      for (const r of refused) expect(isMailError(r.reason) && r.reason.code, String(r.reason?.stack ?? r.reason)).toBe('SendRateLimited');
      await refusal(a.take('u1', T0 + 20));
    }), 60_000);

    it('100 parallel sends of one sender, limit 100: all pass (contention is no refusal), and all were counted', fresh(100, async ([a, b]) => {
      const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).take('u1', T0 + i)));
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      expect(await a.check('u1', T0 + 200)).toBeGreaterThan(0);
    }), 60_000);

    it('gives room again once the hour has passed', fresh(2, async ([a, b]) => {
      await a.take('u1', T0);
      await b.take('u1', T0);
      await refusal(a.take('u1', T0 + 30 * 60_000));
      const later = T0 + HOUR + 61_000;
      expect(await b.check('u1', later)).toBe(0);
      await a.take('u1', later);
      await b.take('u1', later);
      await refusal(a.take('u1', later));
    }));

    it('0 means no limit', fresh(0, async ([a, b]) => {
      for (let i = 0; i < 30; i++) await (i % 2 ? a : b).take('u1', T0);
      expect(await a.check('u1', T0)).toBe(0);
    }));
  });
}
