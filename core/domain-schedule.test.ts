import { describe, expect, it } from 'vitest';
import { nextCheckAt, nextDomainState, initialCheckState, VERIFY_WINDOW_MS } from './domain-schedule';
import type { Domain, RecordCheck, RecordStatus } from './types';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 26, 12);

const rec = (status: RecordStatus, purpose: RecordCheck['purpose'] = 'mx'): RecordCheck => ({ type: 'MX', host: 'owner.test', value: 'mx.example.com', purpose, status, found: null, explanation: `${purpose} is ${status}` });
const domain = (over: Partial<Domain> = {}): Domain => ({ name: 'owner.test', createdAt: T0, dkim: null, sendgrid: null, ...initialCheckState(T0), ...over });

describe('the check schedule', () => {
  it('pending backs off 5 min, 15 min, 1 h, 3 h, then 6 h', () => {
    const waits = [1, 2, 3, 4, 5, 9].map((attempts) => nextCheckAt({ status: 'pending', attempts, outcome: 'definitive', createdAt: T0, now: T0 }) - T0);
    expect(waits).toEqual([5 * MIN, 15 * MIN, HOUR, 3 * HOUR, 6 * HOUR, 6 * HOUR]);
  });

  it('verified and failed: daily; verified after DNS trouble: in an hour; pending after DNS trouble: within 15 min', () => {
    expect(nextCheckAt({ status: 'verified', attempts: 3, outcome: 'ok', createdAt: T0, now: T0 }) - T0).toBe(24 * HOUR);
    expect(nextCheckAt({ status: 'failed', attempts: 1, outcome: 'definitive', createdAt: T0, now: T0 }) - T0).toBe(24 * HOUR);
    expect(nextCheckAt({ status: 'verified', attempts: 3, outcome: 'transient', createdAt: T0, now: T0 }) - T0).toBe(HOUR);
    expect(nextCheckAt({ status: 'pending', attempts: 5, outcome: 'transient', createdAt: T0, now: T0 }) - T0).toBe(15 * MIN);
  });

  it('the last check of a pending domain falls on its 72 h mark', () => {
    const now = T0 + VERIFY_WINDOW_MS - HOUR;
    expect(nextCheckAt({ status: 'pending', attempts: 8, outcome: 'definitive', createdAt: T0, now })).toBe(T0 + VERIFY_WINDOW_MS);
  });
});

describe('domain status', () => {
  it('pending → verified when every record is ok; attempts restart', () => {
    const s = nextDomainState(domain({ attempts: 3 }), [rec('ok'), rec('ok', 'spf')], T0 + HOUR);
    expect(s).toMatchObject({ status: 'verified', attempts: 1, reason: null, lastCheckedAt: T0 + HOUR, nextCheckAt: T0 + 25 * HOUR });
  });

  it('pending stays pending before 72 h; → failed at 72 h with a definite problem, with its reason', () => {
    expect(nextDomainState(domain({ attempts: 2 }), [rec('ok'), rec('wrong', 'spf')], T0 + HOUR)).toMatchObject({ status: 'pending', attempts: 3 });
    const failed = nextDomainState(domain({ attempts: 15 }), [rec('ok'), rec('missing', 'dkim')], T0 + VERIFY_WINDOW_MS);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed.reason).toContain('dkim is missing');
  });

  it('SERVFAIL and timeouts never fail a domain: pending at 72 h with only DNS trouble stays pending and retries soon', () => {
    const s = nextDomainState(domain({ attempts: 15 }), [rec('ok'), rec('error', 'spf')], T0 + VERIFY_WINDOW_MS);
    expect(s.status).toBe('pending');
    expect(s.nextCheckAt! - (T0 + VERIFY_WINDOW_MS)).toBeLessThanOrEqual(15 * MIN);
  });

  it('verified → degraded on drift (with the reason) → verified when fixed; DNS trouble keeps it verified', () => {
    const verified = domain({ status: 'verified', attempts: 4 });
    expect(nextDomainState(verified, [rec('ok'), rec('error', 'spf')], T0).status).toBe('verified');
    const degraded = nextDomainState(verified, [rec('ok'), rec('wrong', 'dkim')], T0);
    expect(degraded).toMatchObject({ status: 'degraded', attempts: 1 });
    expect(degraded.reason).toContain('dkim is wrong');
    expect(degraded.nextCheckAt! - T0).toBe(5 * MIN);
    expect(nextDomainState({ ...verified, ...degraded }, [rec('ok'), rec('ok', 'dkim')], T0 + HOUR)).toMatchObject({ status: 'verified', reason: null });
  });

  it('failed → verified once fixed; otherwise failed, checked daily', () => {
    const failed = domain({ status: 'failed', attempts: 1, reason: 'x' });
    expect(nextDomainState(failed, [rec('wrong')], T0 + 100 * HOUR)).toMatchObject({ status: 'failed', attempts: 2, nextCheckAt: T0 + 124 * HOUR });
    expect(nextDomainState(failed, [rec('ok')], T0 + 100 * HOUR).status).toBe('verified');
  });
});
