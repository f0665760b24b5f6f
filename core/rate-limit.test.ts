import { describe, expect, it } from 'vitest';
import { MailError } from './errors';
import { countInWindow, LoginGuard, SharedAccountFailures, SharedSendLimit, uncountInWindow } from './rate-limit';
import type { SendCounter } from './ports';

const MIN = 60_000;
const HOUR = 60 * MIN;
const window = (now: number, max: number, take: number) => ({ now, max, windowMs: HOUR, take });

describe('countInWindow (the shared send limit\'s counts per minute)', () => {
  // minute 1000 = [60,000,000, 60,060,000); now is inside minute 1070
  const now = 1070 * MIN + 30_000;

  it('a minute counts until a whole window after its end: minute 1010 still counts in minute 1070, 1009 does not', () => {
    const { minutes, taken, waitMs } = countInWindow({ 1009: 5, 1010: 2, 1069: 1 }, window(now, 10, 1));
    expect(minutes).toEqual({ 1010: 2, 1069: 1, 1070: 1 });
    expect(taken).toBe(1);
    expect(waitMs).toBe(0);
  });

  it('takes only what there is room for, and the wait is until enough of the oldest minutes have left (not only the oldest)', () => {
    // 3 + 4 + 2 = 9 of 10: one of three is taken; then 10, and room for one more needs 1020 (3) to leave
    const { minutes, taken, waitMs } = countInWindow({ 1020: 3, 1030: 4, 1070: 2 }, window(now, 10, 3));
    expect(taken).toBe(1);
    expect(minutes).toEqual({ 1020: 3, 1030: 4, 1070: 3 });
    expect(waitMs).toBe(1021 * MIN + HOUR - now);
    // with a limit of 5 and 9 counted, 1020 and 1030 must both leave before there is room
    expect(countInWindow({ 1020: 3, 1030: 4, 1070: 2 }, window(now, 5, 1))).toEqual({ minutes: { 1020: 3, 1030: 4, 1070: 2 }, taken: 0, waitMs: 1031 * MIN + HOUR - now });
  });

  it('a look (take 0) counts nothing: no wait while there is room, the wait when there is none', () => {
    expect(countInWindow({ 1069: 4 }, window(now, 5, 0))).toEqual({ minutes: { 1069: 4 }, taken: 0, waitMs: 0 });
    expect(countInWindow({ 1069: 5 }, window(now, 5, 0)).waitMs).toBe(1070 * MIN + HOUR - now);
  });

  it('at the exact end of a minute\'s window it no longer counts', () => {
    const end = 1010 * MIN + HOUR; // minute 1009's window ends here
    expect(countInWindow({ 1009: 5 }, window(end - 1, 5, 1)).taken).toBe(0);
    expect(countInWindow({ 1009: 5 }, window(end, 5, 1)).taken).toBe(1);
  });

  it('keys that are not minutes are dropped', () => {
    expect(countInWindow({ junk: 3, '': 4 } as Record<string, number>, window(now, 5, 1))).toEqual({ minutes: { 1070: 1 }, taken: 1, waitMs: 0 });
  });

  it('uncountInWindow gives back in the minute it was taken, never below none, and drops the minutes past the window', () => {
    const stored = { 1000: 9, 1030: 2, 1069: 1 };
    expect(uncountInWindow(stored, { takenAt: 1030 * MIN + 5, count: 1, now, windowMs: HOUR })).toEqual({ 1030: 1, 1069: 1 });
    expect(uncountInWindow(stored, { takenAt: 1069 * MIN, count: 3, now, windowMs: HOUR })).toEqual({ 1030: 2 });
    expect(uncountInWindow({ 1069: 1 }, { takenAt: 1069 * MIN, count: 1, now, windowMs: HOUR })).toEqual({});
    expect(stored).toEqual({ 1000: 9, 1030: 2, 1069: 1 }); // not changed in place
  });
});

/** A SendCounter in memory, as the store keeps it: counts per minute under each key, a key removed when it counts nothing. */
function memoryCounter(): SendCounter & { stored: Map<string, Record<string, number>>; takes: number[] } {
  const stored = new Map<string, Record<string, number>>();
  const takes: number[] = [];
  return {
    stored,
    takes,
    async countSend(key, opts) {
      takes.push(opts.take);
      const result = countInWindow(stored.get(key) ?? {}, opts);
      if (result.taken) stored.set(key, result.minutes);
      return { taken: result.taken, waitMs: result.waitMs };
    },
    async uncountSend(key, opts) {
      const minutes = uncountInWindow(stored.get(key) ?? {}, opts);
      if (Object.keys(minutes).length) stored.set(key, minutes);
      else stored.delete(key);
    },
  };
}

describe('LoginGuard with the per-account limit shared (several processes)', () => {
  const limits = { perAccountAndAddress: 100, perAccount: 4, perAddress: 100, windowMs: 15 * MIN };
  const guards = (counter: SendCounter, n = 2) => Array.from({ length: n }, () => new LoginGuard(limits, 10_000, new SharedAccountFailures(counter, limits.perAccount, limits.windowMs)));
  const two = (counter: SendCounter) => guards(counter, 2);
  const tick = () => new Promise((r) => setTimeout(r, 5));

  it('failures counted by two processes add up: past the limit either refuses, before the password is checked', async () => {
    const counter = memoryCounter();
    const [a, b] = two(counter);
    for (const guard of [a, a, b, b]) expect(await guard.attempt('Lee@example.com', '192.0.2.1', async () => false)).toBe('wrong');
    // each process alone has seen 2 failures of this account, below 4
    expect(a.account.blockedFor('lee@example.com')).toBe(0);
    let checked = 0;
    for (const guard of [a, b]) {
      const refused = await guard.attempt('lee@example.com', '198.51.100.7', async () => ++checked > 0).then(() => null, (e: { code: string; details: { retryAfterSeconds: number } }) => e);
      expect(refused?.code).toBe('RateLimited');
      expect(refused?.details.retryAfterSeconds).toBeGreaterThan(14 * 60);
    }
    expect(checked).toBe(0);
    expect(counter.stored.size).toBe(1); // one record for the account, whatever the case of its address
  });

  it('a failure on an account that does not exist leaves nothing in the store; a right password counts nothing', async () => {
    const counter = memoryCounter();
    const [a] = two(counter);
    for (let i = 0; i < 6; i++) expect(await a.attempt(`nobody${i}@example.com`, '192.0.2.1', async () => false, () => false)).toBe('wrong');
    for (let i = 0; i < 6; i++) expect(await a.attempt('lee@example.com', '192.0.2.1', async () => true)).toBe('ok');
    expect(counter.takes).toEqual(Array(12).fill(1)); // each attempt took one before its check...
    expect(counter.stored.size).toBe(0); // ...and gave it back
  });

  it('guesses sent at once to several processes meet the limit together: 12 over 3 processes, a limit of 4, 4 checks', async () => {
    const counter = memoryCounter();
    let checks = 0;
    const guess = async () => {
      checks++;
      await tick();
      return false;
    };
    const all = guards(counter, 3).flatMap((guard) => Array.from({ length: 4 }, () => guard.attempt('lee@example.com', '192.0.2.1', guess)));
    const results = await Promise.allSettled(all);
    expect(checks).toBe(4);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value === 'wrong')).toHaveLength(4);
    expect(results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'RateLimited')).toHaveLength(8);
  });

  it('right passwords sent at once all pass, and give back what they took; a give-back that fails still answers', async () => {
    const counter = memoryCounter();
    const [a, b] = two(counter);
    const right = async () => {
      await tick();
      return true;
    };
    const results = await Promise.all([a, a, b, b].map((guard) => guard.attempt('lee@example.com', '192.0.2.1', right)));
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(counter.stored.size).toBe(0);
    counter.uncountSend = () => Promise.reject(new MailError('TemporaryFailure', 'send count unavailable'));
    expect(await a.attempt('lee@example.com', '192.0.2.1', right)).toBe('ok');
    expect(counter.stored.size).toBe(1); // counted as if it had failed: too many, never too few
  });

  it('a store that fails: the attempt fails (TemporaryFailure), the password is not checked', async () => {
    const down = () => Promise.reject(new MailError('TemporaryFailure', 'send count unavailable'));
    const failing = new LoginGuard(limits, 10_000, new SharedAccountFailures({ countSend: down, uncountSend: down }, 4, limits.windowMs));
    let checked = false;
    await expect(failing.attempt('lee@example.com', '192.0.2.1', async () => (checked = true))).rejects.toMatchObject({ code: 'TemporaryFailure' });
    expect(checked).toBe(false);
  });
});

describe('SharedSendLimit', () => {
  it('counts the sends of one sender that arrive during a count together: 20 parallel takes, 2 round trips, exactly the limit pass', async () => {
    let stored: Record<string, number> = {};
    const calls: number[] = [];
    const counter: SendCounter = {
      async countSend(_sender, opts) {
        calls.push(opts.take);
        await new Promise((r) => setTimeout(r, 5));
        const result = countInWindow(stored, opts);
        stored = result.minutes;
        return { taken: result.taken, waitMs: result.waitMs };
      },
      uncountSend: () => Promise.reject(new Error('not used by the send limit')),
    };
    const limit = new SharedSendLimit(counter, 7);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => limit.take('u1', 1070 * MIN)));
    expect(calls).toEqual([1, 19]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7);
    expect(results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'SendRateLimited')).toHaveLength(13);
  });

  it('a failing store fails the waiting sends, and the next send asks again', async () => {
    let fail = true;
    const limit = new SharedSendLimit({ countSend: async () => (fail ? Promise.reject(new Error('down')) : { taken: 1, waitMs: 0 }), uncountSend: async () => undefined }, 5);
    await expect(Promise.all([limit.take('u1'), limit.take('u1')])).rejects.toThrow('down');
    fail = false;
    await expect(limit.take('u1')).resolves.toBeUndefined();
  });
});
