import type { DkimKey, Domain, DomainCheckState, DomainStatus, RecordCheck, SendgridDomainAuth } from './types';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Waits between checks while a domain is pending (or degraded): 5 min, 15 min, 1 h, 3 h, then every 6 h. */
export const PENDING_BACKOFF_MS = [5 * MINUTE, 15 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR] as const;
/** Verified and failed domains are re-checked daily (DNS drifts; a failed domain may be fixed). */
export const RECHECK_MS = 24 * HOUR;
/** A pending domain that is not right after this long is `failed`. */
export const VERIFY_WINDOW_MS = 72 * HOUR;
/** A transient DNS error is retried within this, whatever the backoff says. */
export const TRANSIENT_RETRY_MS = 15 * MINUTE;
/** A verified domain whose check met DNS trouble is tried again after this (it stays verified). */
export const VERIFIED_RETRY_MS = HOUR;

/** What one check found, in one word: every required record right, a definite problem, or only DNS trouble. */
export type CheckOutcome = 'ok' | 'definitive' | 'transient';

export function outcomeOf(records: RecordCheck[]): CheckOutcome {
  if (records.every((r) => r.status === 'ok')) return 'ok';
  return records.some((r) => r.status === 'wrong' || r.status === 'missing') ? 'definitive' : 'transient';
}

/**
 * When the next check runs, given the status after this check, how many checks the
 * status has seen (this one included), what this check found, and now. Pending and
 * degraded domains back off (5 min, 15 min, 1 h, 3 h, 6 h; DNS trouble: within
 * 15 min); a pending domain is checked one last time at its 72 h mark. Verified and
 * failed domains are checked daily (a verified one that met DNS trouble: in 1 h).
 */
export function nextCheckAt(input: { status: DomainStatus; attempts: number; outcome: CheckOutcome; createdAt: number; now: number }): number {
  const { status, attempts, outcome, createdAt, now } = input;
  if (status === 'verified') return now + (outcome === 'transient' ? VERIFIED_RETRY_MS : RECHECK_MS);
  if (status === 'failed') return now + RECHECK_MS;
  let wait: number = PENDING_BACKOFF_MS[Math.min(Math.max(attempts, 1), PENDING_BACKOFF_MS.length) - 1];
  if (outcome === 'transient') wait = Math.min(wait, TRANSIENT_RETRY_MS);
  const next = now + wait;
  const deadline = createdAt + VERIFY_WINDOW_MS;
  // the last check of a pending domain runs at its deadline, where it passes or fails
  return status === 'pending' && now < deadline && next > deadline ? deadline : next;
}

/**
 * The domain's state after a check (pure). pending → verified when every record is
 * right; pending → failed once 72 h have passed and a record is definitely wrong or
 * missing (DNS trouble alone never fails a domain); verified → degraded when a record
 * drifts (with the reason), back to verified when fixed; failed → verified when fixed.
 */
export function nextDomainState(domain: Pick<Domain, 'status' | 'attempts' | 'createdAt' | 'reason'>, records: RecordCheck[], now: number): DomainCheckState {
  const outcome = outcomeOf(records);
  const firstProblem = records.find((r) => r.status === 'wrong' || r.status === 'missing');
  const problem = firstProblem ? `${firstProblem.type} ${firstProblem.host}: ${firstProblem.explanation}` : null;
  let status: DomainStatus = domain.status;
  let reason = domain.reason;
  if (outcome === 'ok') {
    status = 'verified';
    reason = null;
  } else if (domain.status === 'pending') {
    if (outcome === 'definitive' && now >= domain.createdAt + VERIFY_WINDOW_MS) {
      status = 'failed';
      reason = `not right within 72 hours: ${problem}`;
    }
  } else if (domain.status === 'verified') {
    if (outcome === 'definitive') {
      status = 'degraded';
      reason = problem;
    }
  } else if (outcome === 'definitive') {
    reason = domain.status === 'failed' ? `not right within 72 hours: ${problem}` : problem;
  }
  const attempts = status === domain.status ? domain.attempts + 1 : 1;
  return { status, reason, records, attempts, lastCheckedAt: now, nextCheckAt: nextCheckAt({ status, attempts, outcome, createdAt: domain.createdAt, now }) };
}

/** A new domain's state: pending, first check due at `now` (or when given). */
export function initialCheckState(firstCheckAt: number): DomainCheckState {
  return { status: 'pending', reason: null, records: [], attempts: 0, lastCheckedAt: null, nextCheckAt: firstCheckAt };
}

/** A new domain record (both stores): pending, first check at `nextCheckAt` (default: now). */
export function newDomain(name: string, now: number, init: { dkim?: DkimKey | null; sendgrid?: SendgridDomainAuth | null; nextCheckAt?: number } = {}): Domain {
  return { name: name.toLowerCase(), createdAt: now, dkim: init.dkim ?? null, sendgrid: init.sendgrid ?? null, ...initialCheckState(init.nextCheckAt ?? now) };
}
