import { describe, expect, it } from 'vitest';
import { MailError } from './errors';
import { countInWindow, endHoldInWindow, holdInWindow, LoginGuard, SharedAccountFailures, SharedSendLimit } from './rate-limit';
import type { LoginCount, LoginCounter, SendCounter } from './ports';

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
});

describe('holdInWindow and endHoldInWindow (the shared login count)', () => {
  const now = 1070 * MIN + 30_000;
  const opts = (id: string, max = 4) => ({ id, now, max, windowMs: 15 * MIN, holdMs: MIN });

  it('a place is held while failures and holds leave room; busy when holds fill it, locked (with the wait) when failures alone do', () => {
    expect(holdInWindow(undefined, opts('a'))).toEqual({ next: { minutes: {}, holds: { a: now } }, outcome: 'held', waitMs: 0 });
    const two = { minutes: { 1065: 2 }, holds: { a: now - 5, b: now - 9 } };
    expect(holdInWindow(two, opts('c')).outcome).toBe('busy'); // 2 failures + 2 checks in progress fill 4
    expect(holdInWindow(two, opts('c', 5))).toMatchObject({ outcome: 'held', next: { holds: { a: now - 5, b: now - 9, c: now } } });
    const locked = holdInWindow({ minutes: { 1060: 1, 1065: 3 }, holds: {} }, opts('c'));
    expect(locked.outcome).toBe('locked');
    expect(locked.waitMs).toBe(1061 * MIN + 15 * MIN - now); // when minute 1060's failure leaves the window
  });

  it('a hold already there (a write that landed, sent again) is not taken twice; holds past holdMs and failures past the window no longer count', () => {
    expect(holdInWindow({ minutes: {}, holds: { a: now - 5, b: now, c: now, d: now } }, opts('a')).outcome).toBe('already');
    const stale = holdInWindow({ minutes: { 1050: 9, 1066: 1 }, holds: { dead: now - MIN, b: now - 1 } }, opts('c', 3));
    expect(stale).toEqual({ next: { minutes: { 1066: 1 }, holds: { b: now - 1, c: now } }, outcome: 'held', waitMs: 0 });
  });

  it('ending a hold removes it (and any that expired), and counts a failure in the minute of its end when kept; a hold not there changes nothing', () => {
    const stored: LoginCount = { minutes: { 1050: 9, 1066: 1 }, holds: { a: now - 5, b: now - 9, dead: now - MIN } };
    const end = (id: string, keep: boolean) => endHoldInWindow(stored, { id, keep, now, windowMs: 15 * MIN, holdMs: MIN });
    // the hold of a process that died (older than holdMs) goes too
    expect(end('a', false)).toEqual({ minutes: { 1066: 1 }, holds: { b: now - 9 } });
    expect(end('a', true)).toEqual({ minutes: { 1066: 1, 1070: 1 }, holds: { b: now - 9 } });
    expect(end('z', true)).toBeNull();
    expect(endHoldInWindow(undefined, { id: 'a', keep: true, now, windowMs: 15 * MIN, holdMs: MIN })).toBeNull();
    expect(stored).toEqual({ minutes: { 1050: 9, 1066: 1 }, holds: { a: now - 5, b: now - 9, dead: now - MIN } }); // not changed in place
  });
});

/** A LoginCounter in memory, as the store keeps it (holdInWindow, endHoldInWindow): a key removed when it counts and holds nothing. */
function memoryCounter(): LoginCounter & { stored: Map<string, LoginCount>; calls: string[] } {
  const stored = new Map<string, LoginCount>();
  const calls: string[] = [];
  return {
    stored,
    calls,
    async holdLogin(key, opts) {
      calls.push('hold');
      const { next, outcome, waitMs } = holdInWindow(stored.get(key), opts);
      if (outcome === 'held') stored.set(key, next);
      return { outcome: outcome === 'already' ? 'held' : outcome, waitMs };
    },
    async endLoginHold(key, opts) {
      calls.push(opts.keep ? 'keep' : 'end');
      const next = endHoldInWindow(stored.get(key), opts);
      if (!next) return;
      if (Object.keys(next.minutes).length || Object.keys(next.holds).length) stored.set(key, next);
      else stored.delete(key);
    },
  };
}

describe('LoginGuard with the per-account limit shared (several processes)', () => {
  const limits = { perAccountAndAddress: 100, perAccount: 4, perAddress: 100, windowMs: 15 * MIN };
  const guards = (counter: LoginCounter, n = 2, perAddress = 100) =>
    Array.from({ length: n }, () => new LoginGuard({ ...limits, perAddress }, 10_000, new SharedAccountFailures(counter, limits.perAccount, limits.windowMs, MIN, 5)));
  const two = (counter: LoginCounter) => guards(counter, 2);
  const tick = () => new Promise((r) => setTimeout(r, 5));
  const codeOf = (e: unknown) => (e as { code: string }).code;

  it('failures counted by two processes add up: past the limit either refuses at once, before the password is checked', async () => {
    const counter = memoryCounter();
    const [a, b] = two(counter);
    for (const guard of [a, a, b, b]) expect(await guard.attempt('Lee@example.com', '192.0.2.1', async () => false)).toBe('wrong');
    // each process alone has seen 2 failures of this account, below 4
    expect(a.account.blockedFor('lee@example.com')).toBe(0);
    let checked = 0;
    for (const guard of [a, b]) {
      const started = Date.now();
      const refused = await guard.attempt('lee@example.com', '198.51.100.7', async () => ++checked > 0).then(() => null, (e: { code: string; details: { retryAfterSeconds: number } }) => e);
      expect(refused?.code).toBe('RateLimited');
      expect(refused?.details.retryAfterSeconds).toBeGreaterThan(14 * 60);
      expect(Date.now() - started).toBeLessThan(1000); // locked: no waiting for room
    }
    expect(checked).toBe(0);
    expect(counter.stored.size).toBe(1); // one record for the account, whatever the case of its address
    // the shared refusals are no failures here: a's own count stays at 2 (counted, 3 more would block it)
    for (const _ of [1, 2, 3]) await expect(a.attempt('lee@example.com', '192.0.2.1', async () => true)).rejects.toMatchObject({ code: 'RateLimited' });
    expect(a.account.blockedFor('lee@example.com')).toBe(0);
  });

  it('a failure on an account that does not exist leaves nothing in the store; a right password counts nothing', async () => {
    const counter = memoryCounter();
    const [a] = two(counter);
    for (let i = 0; i < 6; i++) expect(await a.attempt(`nobody${i}@example.com`, '192.0.2.1', async () => false, () => false)).toBe('wrong');
    for (let i = 0; i < 6; i++) expect(await a.attempt('lee@example.com', '192.0.2.1', async () => true)).toBe('ok');
    expect(counter.calls).toEqual(Array(12).fill(['hold', 'end']).flat()); // each attempt held a place before its check...
    expect(counter.stored.size).toBe(0); // ...and ended it without a count
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
    expect(results.filter((r) => r.status === 'rejected' && codeOf(r.reason) === 'RateLimited')).toHaveLength(8);
  });

  it('more right passwords at once than the limit leaves room for all pass: they wait for the checks in progress, and leave nothing', async () => {
    const counter = memoryCounter();
    const [a, b] = two(counter);
    await a.attempt('lee@example.com', '192.0.2.1', async () => false); // 1 failure: room for 3 at once
    const right = async () => {
      await tick();
      return true;
    };
    const results = await Promise.all([a, a, a, b, b, b].map((guard) => guard.attempt('lee@example.com', '192.0.2.1', right)));
    expect(results).toEqual(Array(6).fill('ok'));
    expect(counter.calls.filter((c) => c === 'hold').length).toBeGreaterThan(7); // some waited and asked again
    const [left] = [...counter.stored.values()];
    expect(Object.keys(left.holds)).toEqual([]);
    expect(Object.values(left.minutes)).toEqual([1]); // the one failure, nothing more
  });

  it('checks in progress that still fill the limit at the deadline: refused with a short wait, not the window', async () => {
    const counter = memoryCounter();
    const guard = new LoginGuard(limits, 200, new SharedAccountFailures(counter, 1, limits.windowMs, MIN, 5));
    let release = () => {};
    const slow = guard.attempt('lee@example.com', '192.0.2.1', () => new Promise<boolean>((resolve) => (release = () => resolve(true))));
    await tick();
    const refused = await guard.attempt('lee@example.com', '192.0.2.1', async () => true).catch((e: { code: string; details: { retryAfterSeconds: number } }) => e);
    expect(refused).toMatchObject({ code: 'RateLimited', details: { retryAfterSeconds: 1 } });
    release();
    expect(await slow).toBe('ok');
  });

  it('an attempt this process\'s own limits refuse costs the store nothing', async () => {
    const counter = memoryCounter();
    const [guard] = guards(counter, 1, 2); // 2 failures per client address
    for (const n of [1, 2]) await guard.attempt(`nobody${n}@example.com`, '192.0.2.1', async () => false, () => false);
    const calls = counter.calls.length;
    await expect(guard.attempt('lee@example.com', '192.0.2.1', async () => true)).rejects.toMatchObject({ code: 'RateLimited' });
    expect(counter.calls.length).toBe(calls);
  });

  it('an end that fails still answers: a right password\'s hold stays until it expires', async () => {
    const counter = memoryCounter();
    const [a] = two(counter);
    counter.endLoginHold = () => Promise.reject(new MailError('TemporaryFailure', 'count unavailable'));
    expect(await a.attempt('lee@example.com', '192.0.2.1', async () => true)).toBe('ok');
    const [left] = [...counter.stored.values()];
    expect(Object.keys(left.minutes)).toEqual([]);
    expect(Object.keys(left.holds)).toHaveLength(1);
  });

  it('a store that fails: the attempt fails (TemporaryFailure), the password is not checked', async () => {
    const down = () => Promise.reject(new MailError('TemporaryFailure', 'count unavailable'));
    const failing = new LoginGuard(limits, 10_000, new SharedAccountFailures({ holdLogin: down, endLoginHold: down }, 4, limits.windowMs));
    let checked = false;
    await expect(failing.attempt('lee@example.com', '192.0.2.1', async () => (checked = true))).rejects.toMatchObject({ code: 'TemporaryFailure' });
    expect(checked).toBe(false);
  });

  it('a hold that lands although the store answers a fault is ended at once, not left filling a place until it expires', async () => {
    const counter = memoryCounter();
    const [a] = two(counter);
    const hold = counter.holdLogin.bind(counter);
    counter.holdLogin = async (key, opts) => {
      await hold(key, opts);
      throw new MailError('TemporaryFailure', 'count unavailable');
    };
    await expect(a.attempt('lee@example.com', '192.0.2.1', async () => true)).rejects.toMatchObject({ code: 'TemporaryFailure' });
    expect(counter.calls).toEqual(['hold', 'end']);
    expect(counter.stored.size).toBe(0);
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
    };
    const limit = new SharedSendLimit(counter, 7);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => limit.take('u1', 1070 * MIN)));
    expect(calls).toEqual([1, 19]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7);
    expect(results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'SendRateLimited')).toHaveLength(13);
  });

  it('a failing store fails the waiting sends, and the next send asks again', async () => {
    let fail = true;
    const limit = new SharedSendLimit({ countSend: async () => (fail ? Promise.reject(new Error('down')) : { taken: 1, waitMs: 0 }) }, 5);
    await expect(Promise.all([limit.take('u1'), limit.take('u1')])).rejects.toThrow('down');
    fail = false;
    await expect(limit.take('u1')).resolves.toBeUndefined();
  });
});
