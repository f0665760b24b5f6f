import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TableResolver } from '../adapters/dns/table-resolver';
import { VERIFY_WINDOW_MS } from '../core/domain-schedule';
import { publishTold, type ToldRecord } from './dns-helpers';
import { cleanupDir, startTestHost, type TestHost } from './helpers';

const MIN = 60_000;
const HOUR = 60 * MIN;

/**
 * The local scheduler on a fake clock: the checks run on the stored schedule, a
 * restart (a new host on the same data folder) continues it, and overlapping passes
 * or a manual check never check one domain twice at once.
 */
describe('local domain scheduler (fake clock)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-sched-'));
  const dns = new TableResolver({});
  const T0 = Date.now();
  let clock = T0;
  const now = () => clock;
  let host: TestHost;
  const start = () => startTestHost({ NIMBUS_HOSTNAME: 'mx.example.com' }, { dataDir, resolver: dns, now, scheduler: false });
  afterAll(async () => {
    await host?.stop();
    cleanupDir(dataDir);
  });

  const domain = async (name: string) => (await host.app.store.getDomain(name))!;
  const runAt = async (at: number) => {
    clock = at;
    return (await host.scheduler.runDue()).filter((n) => n !== 'example.com');
  };

  it('checks a pending domain at 5 min, 15 min, 1 h…, continues after a restart, verifies once DNS is right, degrades on drift', async () => {
    host = await start();
    const res = await host.api('/domains', { method: 'POST', token: host.token, body: JSON.stringify({ name: 'sched.example' }) });
    const told = ((await res.json()) as { records: ToldRecord[] }).records;
    expect(await runAt(T0)).toEqual(['sched.example']);
    expect(await domain('sched.example')).toMatchObject({ status: 'pending', attempts: 1, lastCheckedAt: T0, nextCheckAt: T0 + 5 * MIN });
    expect(await runAt(T0 + 4 * MIN)).toEqual([]);
    expect(await runAt(T0 + 5 * MIN)).toEqual(['sched.example']);
    expect((await domain('sched.example')).nextCheckAt).toBe(T0 + 20 * MIN);
    expect(await runAt(T0 + 20 * MIN)).toEqual(['sched.example']);
    expect((await domain('sched.example')).nextCheckAt).toBe(T0 + 80 * MIN);

    // restart in the middle: a new process on the same data folder keeps the schedule
    await host.stop();
    host = await start();
    expect(await runAt(T0 + 79 * MIN)).toEqual([]);
    expect(await runAt(T0 + 80 * MIN)).toEqual(['sched.example']);
    expect(await domain('sched.example')).toMatchObject({ status: 'pending', attempts: 4, nextCheckAt: T0 + 80 * MIN + 3 * HOUR });

    dns.replace(publishTold(told));
    expect(await runAt(T0 + 80 * MIN + 3 * HOUR)).toEqual(['sched.example']);
    const verified = await domain('sched.example');
    expect(verified).toMatchObject({ status: 'verified', attempts: 1, nextCheckAt: T0 + 80 * MIN + 27 * HOUR });

    // the DKIM record vanishes: the daily re-check says degraded, with the reason
    const dkimHost = told.find((r) => r.host.includes('._domainkey.'))!.host;
    dns.set(dkimHost, null);
    expect(await runAt(verified.nextCheckAt!)).toEqual(['sched.example']);
    const degraded = await domain('sched.example');
    expect(degraded.status).toBe('degraded');
    expect(degraded.reason).toContain('no DKIM key');
  });

  it('a domain never right is failed at its 72 h mark, after checks on the backoff', async () => {
    await host.api('/domains', { method: 'POST', token: host.token, body: JSON.stringify({ name: 'never.example' }) });
    const created = await domain('never.example');
    const times: number[] = [];
    for (let i = 0; i < 40; i++) {
      const d = await domain('never.example');
      if (d.status !== 'pending') break;
      times.push(d.nextCheckAt!);
      await runAt(d.nextCheckAt!);
    }
    const d = await domain('never.example');
    expect(d.status).toBe('failed');
    expect(d.reason).toContain('not right within 72 hours');
    expect(times.at(-1)).toBe(created.createdAt + VERIFY_WINDOW_MS);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    expect(gaps.slice(0, 5)).toEqual([5 * MIN, 15 * MIN, HOUR, 3 * HOUR, 6 * HOUR]);
    expect(d.nextCheckAt! - d.lastCheckedAt!).toBe(24 * HOUR);
  });

  it('overlapping passes and a manual check never run two checks of one domain at once', async () => {
    await host.api('/domains', { method: 'POST', token: host.token, body: JSON.stringify({ name: 'busy.example' }) });
    const due = (await domain('busy.example')).nextCheckAt!;
    clock = due;
    dns.delayMs = 200;
    const before = dns.queries.length;
    try {
      const [a, b, manual] = await Promise.all([host.scheduler.runDue(), host.scheduler.runDue(), host.api('/domains/busy.example/verify', { method: 'POST', token: host.token })]);
      expect(a).toEqual(b); // the second pass is the first one
      expect(a).toContain('busy.example');
      expect(manual.status).toBe(200);
    } finally {
      dns.delayMs = 0;
    }
    expect(dns.queries.slice(before).filter((q) => q === 'TXT _dmarc.busy.example')).toHaveLength(1);
    expect((await domain('busy.example')).attempts).toBe(1);
  });

  it('a claim held by another process makes this one skip the domain (and the verify route wait)', async () => {
    const d = await domain('busy.example');
    clock = d.nextCheckAt!;
    expect(await host.app.store.claimDomainCheck('busy.example', 'other-process', clock, clock + 60_000)).toBe('claimed');
    expect(await runAt(d.nextCheckAt!)).toEqual([]);
    expect((await domain('busy.example')).attempts).toBe(1);
    await host.app.store.releaseDomainCheck('busy.example', 'other-process');
    expect(await runAt(d.nextCheckAt!)).toEqual(['busy.example']);
  });
});

describe('the scheduler in a running host', () => {
  it('checks a new domain by itself (real timers)', async () => {
    const dns = new TableResolver({});
    const host = await startTestHost({ NIMBUS_HOSTNAME: 'mx.example.com' }, { resolver: dns, scheduler: 100 });
    try {
      // the setup domain is due at once: the first pass checks it without being asked
      const deadline = Date.now() + 10_000;
      while (!(await host.app.store.getDomain('example.com'))?.lastCheckedAt && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect((await host.app.store.getDomain('example.com'))?.lastCheckedAt).not.toBeNull();
    } finally {
      await host.destroy();
    }
  });
});
