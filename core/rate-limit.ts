import { createHash, randomUUID } from 'node:crypto';
import type { Config } from './config';
import { MailError } from './errors';
import type { LoginCount, LoginCounter, LoginHoldEnd, LoginHoldOptions, SendCounter } from './ports';

/**
 * Counts failures per key in a sliding window: once `max` failures fall inside
 * `windowMs`, the key is blocked until the oldest of them leaves the window.
 * Attempts still in progress (`reserve` without `release` yet) take room as if they
 * had failed (`full`), so many attempts started at once cannot all slip under the limit.
 * In memory: one process's view (each Functions instance keeps its own).
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly pending = new Map<string, number>();

  constructor(
    readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until `key` may try again (its failures alone reach the limit); 0 when it may. */
  blockedFor(key: string, now = Date.now()): number {
    const list = this.prune(key, now);
    return list.length < this.max ? 0 : list[list.length - this.max] + this.windowMs - now;
  }

  /** No room to start another attempt now: failures and attempts in progress fill the limit. */
  full(key: string, now = Date.now()): boolean {
    return this.prune(key, now).length + (this.pending.get(key) ?? 0) >= this.max;
  }

  fail(key: string, now = Date.now()): void {
    const list = this.prune(key, now);
    list.push(now);
    this.failures.set(key, list);
    if (this.failures.size > 100_000) this.sweep(now);
  }

  /** An attempt starts: it counts against the limit until `release`. */
  reserve(key: string): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  release(key: string): void {
    const left = (this.pending.get(key) ?? 1) - 1;
    if (left > 0) this.pending.set(key, left);
    else this.pending.delete(key);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  private prune(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) this.prune(key, now);
  }
}

export interface LoginGuardLimits {
  /** Failures per (account, client address): the tight limit an attacker meets first. */
  perAccountAndAddress: number;
  /** Failures per account from all addresses together: looser, slows a distributed guesser. */
  perAccount: number;
  /** Failures per client address across all accounts. */
  perAddress: number;
  windowMs: number;
}

export type PasswordCheckOutcome = 'ok' | 'wrong';

/** The LoginCounter key that an account's shared login count is kept under (SharedAccountFailures; removed with the user). */
export function loginFailuresKey(account: string): string {
  return `login~${createHash('sha256').update(account.toLowerCase()).digest('hex').slice(0, 40)}`;
}

/** How long a check in progress holds its place in the shared count at most (a process that died mid-check leaves one that expires). */
export const LOGIN_HOLD_MS = 60_000;

function loginRateLimited(waitMs: number): MailError {
  return new MailError('RateLimited', undefined, { details: { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } });
}

/**
 * The per-account limit counted in a shared store, for hosts that run as several
 * processes (the Azure shape: each Functions instance and the edge check passwords, and
 * an attacker's guesses are spread over them). Under a key of its own per account (a
 * hash of the address: any address is a valid store key), the store keeps the wrong
 * passwords per minute and the checks in progress. Every check holds a place there
 * before the password is compared, in the store's atomic step, so guesses sent at once
 * to any number of processes meet the limit together: failures and holds together
 * never pass it. A check ends its hold; it stays counted as a failure only when the
 * password was wrong on an account that exists, so right passwords and guesses at
 * made-up addresses leave nothing behind. When the failures alone reach the limit the
 * attempt is refused until the oldest leaves the window; when checks in progress fill
 * the rest (a mail client opening several connections), it waits for them, as the
 * in-memory guard does. Holds carry an id: a write that landed and is sent again
 * changes nothing, and a hold whose process died expires after LOGIN_HOLD_MS.
 */
export class SharedAccountFailures {
  constructor(
    private readonly counter: LoginCounter,
    readonly max: number,
    private readonly windowMs: number,
    private readonly holdMs = LOGIN_HOLD_MS,
    /** The first pause while checks in progress fill the limit (doubling to 400 ms). */
    private readonly pauseMs = 25,
  ) {}

  /**
   * Runs `check` holding a place in the account's shared count; `RateLimited` when the
   * failures reach the limit, or when the checks in progress still fill it at `deadline`.
   * A store fault before the check fails the attempt (TemporaryFailure), and the hold,
   * in case it landed, is ended; one while ending the hold is not the client's answer: a
   * right password's hold then expires, and a wrong one counts in this process only.
   */
  async check(account: string, check: () => Promise<boolean>, known: () => boolean, deadline: number): Promise<boolean> {
    const key = loginFailuresKey(account);
    const id = randomUUID();
    const window = { max: this.max, windowMs: this.windowMs, holdMs: this.holdMs };
    const end = (keep: boolean) => this.counter.endLoginHold(key, { id, keep, now: Date.now(), windowMs: this.windowMs, holdMs: this.holdMs }).catch(() => undefined);
    for (let pause = this.pauseMs; ; pause = Math.min(2 * pause, 400)) {
      // a hold that landed although the store answered a fault would fill a place until it expires: ended at once
      const { outcome, waitMs } = await this.counter.holdLogin(key, { id, now: Date.now(), ...window }).catch(async (err: unknown) => {
        await end(false);
        throw err;
      });
      if (outcome === 'held') break;
      if (outcome === 'locked') throw loginRateLimited(waitMs);
      if (Date.now() + pause >= deadline) throw loginRateLimited(1000);
      await new Promise((resolve) => setTimeout(resolve, pause * (0.5 + Math.random() / 2)));
    }
    let ok: boolean | null = null; // null: the check itself failed (a fault is nobody's guess)
    try {
      ok = await check();
      return ok;
    } finally {
      await end(ok === false && known());
    }
  }
}

/**
 * Every password check (API login, password change, SMTP AUTH) goes through one
 * guard. The attempt is reserved before the password is hashed, so N guesses sent
 * at once meet the limit exactly as N guesses sent one after another would: at most
 * the limit are checked, the rest are refused with `RateLimited` before any bcrypt.
 *
 * The tight limit is keyed by (account, client address), so an attacker elsewhere
 * cannot lock the owner out of their usual address; the looser per-account limit
 * still caps guesses spread over many addresses (and, once reached, does lock the
 * account for everyone until the window passes: that is the trade-off).
 *
 * In memory, each process counts its own; with `shared` (several processes) the
 * per-account limit is also counted in the store, across all of them, and each check
 * that this process's limits let through holds a place there while it runs: a guesser
 * whose attempts land on many instances, one after another or all at once, meets it
 * once in all (SharedAccountFailures). The other two limits stay per process (shared,
 * they would leave a record per client address in the store).
 */
export class LoginGuard {
  readonly accountAndAddress: FailureLimiter;
  readonly account: FailureLimiter;
  readonly address: FailureLimiter;
  /** Attempts waiting for one in progress to finish (see attempt). */
  private waiters: Array<() => void> = [];

  constructor(
    limits: LoginGuardLimits,
    /** How long an attempt may wait for room (attempts in progress to finish) before it is refused. */
    private readonly maxWaitMs = 10_000,
    private readonly shared?: SharedAccountFailures,
  ) {
    this.accountAndAddress = new FailureLimiter(limits.perAccountAndAddress, limits.windowMs);
    this.account = new FailureLimiter(limits.perAccount, limits.windowMs);
    this.address = new FailureLimiter(limits.perAddress, limits.windowMs);
  }

  /**
   * Runs `check` (the bcrypt comparison) unless a limit is reached; `RateLimited`
   * (with `retryAfterSeconds`) when one is. A wrong password counts against all three
   * keys; a right one clears the (account, address) failures.
   *
   * When attempts in progress fill the room the failures leave, a new attempt waits
   * for them to finish and looks again: after wrong guesses the limit is reached and
   * it is refused, after right passwords it goes ahead. So N guesses at once get at
   * most the limit of checks, while N right logins at once (a mail client opening
   * several connections) all succeed; the shared count waits the same way.
   *
   * `known`, asked after a wrong password: whether the account exists (only those are
   * counted in the shared store); by default it does.
   */
  async attempt(account: string, address: string, check: () => Promise<boolean>, known: () => boolean = () => true): Promise<PasswordCheckOutcome> {
    const deadline = Date.now() + this.maxWaitMs;
    const shared = this.shared;
    // this process's limits first (a request they refuse costs the store nothing), then the shared count around the check
    return this.attemptHere(account, address, shared ? () => shared.check(account, check, known, deadline) : check, deadline);
  }

  /** The limits this process keeps (see attempt). */
  private async attemptHere(account: string, address: string, check: () => Promise<boolean>, deadline: number): Promise<PasswordCheckOutcome> {
    const keys: Array<[FailureLimiter, string]> = [
      [this.accountAndAddress, `${account.toLowerCase()}\u0000${address}`],
      [this.account, account.toLowerCase()],
      [this.address, address],
    ];
    for (;;) {
      // looked at and reserved in one synchronous step: nothing can interleave between them
      const waitMs = Math.max(...keys.map(([limiter, key]) => limiter.blockedFor(key)));
      if (waitMs > 0) throw loginRateLimited(waitMs);
      if (!keys.some(([limiter, key]) => limiter.full(key))) break;
      const left = deadline - Date.now();
      if (left <= 0) throw loginRateLimited(1000);
      await this.nextRelease(left);
    }
    for (const [limiter, key] of keys) limiter.reserve(key);
    let ok: boolean | null = null; // null: the check itself failed (a fault is nobody's guess)
    try {
      ok = await check();
    } finally {
      const now = Date.now();
      for (const [limiter, key] of keys) {
        if (ok === false) limiter.fail(key, now);
        limiter.release(key);
      }
      if (ok) keys[0][0].reset(keys[0][1]);
      const waiting = this.waiters;
      this.waiters = [];
      for (const wake of waiting) wake();
    }
    return ok ? 'ok' : 'wrong';
  }

  /** Resolves when an attempt in progress finishes, or after `ms`. */
  private nextRelease(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }
}

/** What core/outbound.ts asks of the hourly send limit (API and SMTP submission together). */
export interface SendLimit {
  /** Milliseconds until `sender` may send again (0: now). */
  check(sender: string, now?: number): Promise<number>;
  /** Counts one message, or throws `SendRateLimited` (with retryAfterSeconds) when the hour is full. */
  take(sender: string, now?: number): Promise<void>;
}

const HOUR_MS = 3_600_000;

/** The refusal of a sender over the hourly limit (429 / 451 4.7.1), with when to try again. */
export function sendRateLimited(waitMs: number): MailError {
  return new MailError('SendRateLimited', undefined, { details: { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } });
}

/**
 * Messages per sender per hour in a sliding window, in memory: one process's view.
 * The local host is one process, so there it is the whole count; `check` and `take`
 * look and count in one synchronous step, so parallel sends cannot slip past it.
 */
export class SendLimiter implements SendLimit {
  private readonly sent = new Map<string, number[]>();
  constructor(
    /** 0: no limit. */
    readonly maxPerHour: number,
    private readonly windowMs = HOUR_MS,
  ) {}

  async check(sender: string, now = Date.now()): Promise<number> {
    return this.waitMs(sender, now);
  }

  async take(sender: string, now = Date.now()): Promise<void> {
    const waitMs = this.waitMs(sender, now);
    if (waitMs > 0) throw sendRateLimited(waitMs);
    if (this.maxPerHour <= 0) return;
    const list = this.sent.get(sender) ?? [];
    list.push(now);
    this.sent.set(sender, list);
    if (this.sent.size > 100_000) for (const key of [...this.sent.keys()]) this.waitMs(key, now);
  }

  private waitMs(sender: string, now: number): number {
    if (this.maxPerHour <= 0) return 0;
    const list = (this.sent.get(sender) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length) this.sent.set(sender, list);
    else this.sent.delete(sender);
    return list.length < this.maxPerHour ? 0 : list[list.length - this.maxPerHour] + this.windowMs - now;
  }
}

/**
 * The hourly limit counted in a shared store (SendCounter), for hosts that run as
 * several processes (the Azure shape: each Functions instance and each edge replica
 * sends for the same users). The sends of one sender that arrive while a count is
 * under way in this process wait and are counted together, in one store round trip:
 * many parallel sends from one client do not contend with each other in the store.
 */
export class SharedSendLimit implements SendLimit {
  private readonly waiting = new Map<string, Array<{ now: number; resolve: (waitMs: number) => void; reject: (err: unknown) => void }>>();

  constructor(
    private readonly counter: SendCounter,
    /** 0: no limit (the store is not asked). */
    readonly maxPerHour: number,
    private readonly windowMs = HOUR_MS,
  ) {}

  async check(sender: string, now = Date.now()): Promise<number> {
    if (this.maxPerHour <= 0) return 0;
    return (await this.counter.countSend(sender, { now, max: this.maxPerHour, windowMs: this.windowMs, take: 0 })).waitMs;
  }

  async take(sender: string, now = Date.now()): Promise<void> {
    if (this.maxPerHour <= 0) return;
    const waitMs = await new Promise<number>((resolve, reject) => {
      const queue = this.waiting.get(sender);
      if (queue) return void queue.push({ now, resolve, reject });
      this.waiting.set(sender, [{ now, resolve, reject }]);
      void this.countWaiting(sender);
    });
    if (waitMs > 0) throw sendRateLimited(waitMs);
  }

  /** Counts the sender's waiting sends, a batch per round trip, until none wait; the first in a batch are the ones taken. */
  private async countWaiting(sender: string): Promise<void> {
    const queue = this.waiting.get(sender)!;
    while (queue.length) {
      const batch = queue.splice(0);
      try {
        const now = Math.max(...batch.map((w) => w.now));
        const { taken, waitMs } = await this.counter.countSend(sender, { now, max: this.maxPerHour, windowMs: this.windowMs, take: batch.length });
        // one not taken is refused (a wait of at least 1 ms, whatever the counter said)
        batch.forEach((w, i) => w.resolve(i < taken ? 0 : Math.max(1, waitMs)));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.waiting.delete(sender);
  }
}

const MINUTE_MS = 60_000;

/**
 * A SendCounter's arithmetic over counts per minute (minute number → messages; a
 * minute counts until a whole window after its end). Of `take` messages, as many as
 * there is room for are counted in `now`'s minute (`taken`); `minutes` is what to
 * store: the minutes still inside the window, with those. `waitMs` as in SendCounter.
 */
export function countInWindow(stored: Record<string, number>, opts: { now: number; max: number; windowMs: number; take: number }): { minutes: Record<string, number>; taken: number; waitMs: number } {
  const minutes: Record<string, number> = {};
  let total = 0;
  for (const [minute, count] of Object.entries(stored)) {
    if ((Number(minute) + 1) * MINUTE_MS + opts.windowMs > opts.now) {
      minutes[minute] = count;
      total += count;
    }
  }
  const taken = Math.max(0, Math.min(opts.take, opts.max - total));
  if (taken) {
    const minute = String(Math.floor(opts.now / MINUTE_MS));
    minutes[minute] = (minutes[minute] ?? 0) + taken;
    total += taken;
  }
  if (taken === opts.take && opts.take > 0) return { minutes, taken, waitMs: 0 };
  if (total < opts.max) return { minutes, taken, waitMs: 0 };
  // room comes back as the oldest minutes leave the window
  let left = total;
  for (const minute of Object.keys(minutes).map(Number).sort((a, b) => a - b)) {
    left -= minutes[minute];
    if (left < opts.max) return { minutes, taken, waitMs: (minute + 1) * MINUTE_MS + opts.windowMs - opts.now };
  }
  return { minutes, taken, waitMs: opts.windowMs }; // not reached: left ends at 0, below max
}

/** The minutes of `stored` still inside the window. */
function inWindow(stored: Record<string, number> | undefined, now: number, windowMs: number): Record<string, number> {
  return countInWindow(stored ?? {}, { now, max: 0, windowMs, take: 0 }).minutes;
}

/** The holds of `stored` taken less than `holdMs` before `now` (older ones are of checks whose process died). */
function liveHolds(stored: Record<string, number> | undefined, now: number, holdMs: number): Record<string, number> {
  return Object.fromEntries(Object.entries(stored ?? {}).filter(([, at]) => at > now - holdMs));
}

/**
 * A LoginCounter's arithmetic: whether check `id` may hold a place in `stored` (see
 * LoginCount), and what the store keeps then. `held`: added; `already`: it is there (a
 * write that landed, sent again); `busy`: the failures and the holds in progress fill
 * the limit; `locked`: the failures alone do, `waitMs` until room comes back.
 * Failures past the window and holds older than `holdMs` are dropped.
 */
export function holdInWindow(stored: Partial<LoginCount> | undefined, opts: LoginHoldOptions): { next: LoginCount; outcome: 'held' | 'already' | 'busy' | 'locked'; waitMs: number } {
  const minutes = inWindow(stored?.minutes, opts.now, opts.windowMs);
  const holds = liveHolds(stored?.holds, opts.now, opts.holdMs);
  const next = { minutes, holds };
  if (stored?.holds && Object.hasOwn(stored.holds, opts.id)) return { next, outcome: 'already', waitMs: 0 };
  const { waitMs } = countInWindow(minutes, { now: opts.now, max: opts.max, windowMs: opts.windowMs, take: 0 });
  if (waitMs > 0) return { next, outcome: 'locked', waitMs };
  const failures = Object.values(minutes).reduce((sum, n) => sum + n, 0);
  if (failures + Object.keys(holds).length >= opts.max) return { next, outcome: 'busy', waitMs: 0 };
  return { next: { minutes, holds: { ...holds, [opts.id]: opts.now } }, outcome: 'held', waitMs: 0 };
}

/**
 * What the store keeps once check `id` ends: its hold removed (and any older than
 * `holdMs`), and a failure counted in the minute of `now` when `keep`. Null when the hold
 * is not there (ended already): nothing to change. Counting nothing and holding nothing,
 * the key is to be removed.
 */
export function endHoldInWindow(stored: Partial<LoginCount> | undefined, opts: LoginHoldEnd): LoginCount | null {
  if (!stored?.holds || !Object.hasOwn(stored.holds, opts.id)) return null;
  const { [opts.id]: _ended, ...others } = stored.holds;
  const holds = liveHolds(others, opts.now, opts.holdMs);
  return {
    minutes: opts.keep ? countInWindow(stored.minutes ?? {}, { now: opts.now, max: Infinity, windowMs: opts.windowMs, take: 1 }).minutes : inWindow(stored.minutes, opts.now, opts.windowMs),
    holds,
  };
}

/** The hourly send limit from the settings: in memory, or in `counter` when the host runs as several processes. */
export function sendLimitFromConfig(config: Config, counter?: SendCounter): SendLimit {
  return counter ? new SharedSendLimit(counter, config.NIMBUS_SEND_MAX_PER_HOUR) : new SendLimiter(config.NIMBUS_SEND_MAX_PER_HOUR);
}

const LOGIN_WINDOW_MS = 15 * 60_000;

/**
 * The login limits from the settings (each process that checks passwords makes one: the host, the
 * Functions app, the Azure edge); with `counter` (several processes) the per-account one is shared.
 */
export function loginGuardFromConfig(config: Config, counter?: LoginCounter): LoginGuard {
  const limits = {
    perAccountAndAddress: config.NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS,
    perAccount: config.NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT,
    perAddress: config.NIMBUS_LOGIN_MAX_FAILURES_PER_IP,
    windowMs: LOGIN_WINDOW_MS,
  };
  return new LoginGuard(limits, undefined, counter ? new SharedAccountFailures(counter, limits.perAccount, LOGIN_WINDOW_MS) : undefined);
}
