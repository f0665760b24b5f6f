import { createHash } from 'node:crypto';
import type { Config } from './config';
import { MailError } from './errors';
import type { SendCounter } from './ports';

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

/** The SendCounter key that an account's shared login failures count under (SharedAccountFailures; removed with the user). */
export function loginFailuresKey(account: string): string {
  return `login~${createHash('sha256').update(account.toLowerCase()).digest('hex').slice(0, 40)}`;
}

/**
 * The per-account limit counted in a shared store, for hosts that run as several
 * processes (the Azure shape: each Functions instance and the edge check passwords, and
 * an attacker's guesses are spread over them). It rides on the SendCounter's counts per
 * minute, under a key of its own per account (a hash of the address: any address is a
 * valid store key). Every attempt takes one before its password is checked, in the
 * store's atomic step, so guesses sent at once to any number of processes meet the limit
 * together; the attempt gives it back unless it was a wrong password on an account that
 * exists. So only those stay counted, and guesses at made-up addresses leave nothing
 * behind. (A known account's wrong password thus answers without the give-back's round
 * trip: which addresses exist is no secret of a mail server, its RCPT replies tell.)
 */
export class SharedAccountFailures {
  constructor(
    private readonly counter: SendCounter,
    readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Takes one for an attempt at `now`: 0 when taken, else milliseconds until there is room. */
  async reserve(account: string, now: number): Promise<number> {
    const { taken, waitMs } = await this.counter.countSend(loginFailuresKey(account), { now, max: this.max, windowMs: this.windowMs, take: 1 });
    return taken ? 0 : Math.max(1, waitMs);
  }

  /** Gives back what `reserve` took at `takenAt`. */
  async giveBack(account: string, takenAt: number): Promise<void> {
    await this.counter.uncountSend(loginFailuresKey(account), { takenAt, count: 1, now: Date.now(), windowMs: this.windowMs });
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
 * per-account limit is also counted in the store, across all of them, and taken there
 * before each check: a guesser whose attempts land on many instances, one after another
 * or all at once, meets it once in all. The other two limits stay per process (shared,
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
   * several connections) all succeed.
   *
   * `known`, asked after a wrong password: whether the account exists (only those are
   * counted in the shared store); by default it does.
   */
  async attempt(account: string, address: string, check: () => Promise<boolean>, known: () => boolean = () => true): Promise<PasswordCheckOutcome> {
    if (!this.shared) return this.attemptHere(account, address, check);
    // taken in the store before anything else (a blocked account learns nothing from trying; a store fault fails the attempt)
    const takenAt = Date.now();
    const waitMs = await this.shared.reserve(account, takenAt);
    if (waitMs > 0) throw new MailError('RateLimited', undefined, { details: { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } });
    let outcome: PasswordCheckOutcome | null = null;
    try {
      outcome = await this.attemptHere(account, address, check);
      return outcome;
    } finally {
      // kept only for a wrong password on an account that exists. A store fault here is not the client's
      // answer (a 503 after right passwords only would tell the guesser): what was taken then stays counted
      if (outcome !== 'wrong' || !known()) await this.shared.giveBack(account, takenAt).catch(() => undefined);
    }
  }

  /** The limits this process keeps (see attempt). */
  private async attemptHere(account: string, address: string, check: () => Promise<boolean>): Promise<PasswordCheckOutcome> {
    const keys: Array<[FailureLimiter, string]> = [
      [this.accountAndAddress, `${account.toLowerCase()}\u0000${address}`],
      [this.account, account.toLowerCase()],
      [this.address, address],
    ];
    const deadline = Date.now() + this.maxWaitMs;
    for (;;) {
      // looked at and reserved in one synchronous step: nothing can interleave between them
      const waitMs = Math.max(...keys.map(([limiter, key]) => limiter.blockedFor(key)));
      if (waitMs > 0) throw new MailError('RateLimited', undefined, { details: { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } });
      if (!keys.some(([limiter, key]) => limiter.full(key))) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new MailError('RateLimited', undefined, { details: { retryAfterSeconds: 1 } });
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

/**
 * What `uncountSend` leaves of a count: `count` fewer in the minute of `takenAt` (never below
 * none), without the minutes that have left the window.
 */
export function uncountInWindow(stored: Record<string, number>, opts: { takenAt: number; count: number; now: number; windowMs: number }): Record<string, number> {
  const minutes = countInWindow(stored, { now: opts.now, max: 0, windowMs: opts.windowMs, take: 0 }).minutes;
  const minute = String(Math.floor(opts.takenAt / MINUTE_MS));
  const left = (minutes[minute] ?? 0) - opts.count;
  if (left > 0) minutes[minute] = left;
  else delete minutes[minute];
  return minutes;
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
export function loginGuardFromConfig(config: Config, counter?: SendCounter): LoginGuard {
  const limits = {
    perAccountAndAddress: config.NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS,
    perAccount: config.NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT,
    perAddress: config.NIMBUS_LOGIN_MAX_FAILURES_PER_IP,
    windowMs: LOGIN_WINDOW_MS,
  };
  return new LoginGuard(limits, undefined, counter ? new SharedAccountFailures(counter, limits.perAccount, LOGIN_WINDOW_MS) : undefined);
}
