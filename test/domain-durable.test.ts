import { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TableResolver } from '../adapters/dns/table-resolver';
import { VERIFY_WINDOW_MS } from '../core/domain-schedule';
import { createLogger } from '../core/logger';
import { CHECK_DOMAIN_ACTIVITY, type CheckDomainOutput } from '../functions/check-domain.activity';
import { DOMAIN_TIMER, startDueVerifications } from '../functions/domain-timer';
import { registerFunctions } from '../functions/register';
import { VERIFY_DOMAIN_ORCHESTRATION } from '../functions/verify-domain.orchestrator';
import { RecordingRegistry } from './azure-helpers';
import { publishTold, type ToldRecord } from './dns-helpers';
import { startTestHost, type TestHost } from './helpers';

const MIN = 60_000;
const HOUR = 60 * MIN;

/**
 * The Azure shape's DNS verification without the Functions host (which cannot run
 * here): the registered orchestrator is driven through its generator as the Durable
 * extension would (each yielded activity runs the registered activity for real,
 * against a store and a table resolver; each yielded timer moves the clock to its
 * fire time); the timer trigger's Durable client is the real one from
 * df.getClient, talking to a loopback stand-in for the extension's HTTP API.
 */
describe('Durable DNS verification', () => {
  let host: TestHost;
  const registry = new RecordingRegistry();
  const dns = new TableResolver({});
  let clock = Date.now();

  beforeAll(async () => {
    host = await startTestHost({ NIMBUS_HOSTNAME: 'mx.example.com' }, { resolver: dns, now: () => clock, scheduler: false });
    registerFunctions(registry, () => host.app);
  });
  afterAll(async () => host.destroy());

  async function addDomain(name: string): Promise<ToldRecord[]> {
    const res = await host.api('/domains', { method: 'POST', token: host.token, body: JSON.stringify({ name }) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { records: ToldRecord[] }).records;
  }

  /** Runs the orchestration to its end; `onCheck` may change DNS before each check (n = 1, 2, ...). */
  async function drive(name: string, onCheck: (n: number) => unknown = () => undefined) {
    const orchestrator = registry.orchestrations.get(VERIFY_DOMAIN_ORCHESTRATION)!;
    const activity = registry.activities.get(CHECK_DOMAIN_ACTIVITY)!;
    const timers: number[] = [];
    const checks: CheckDomainOutput[] = [];
    const context = {
      df: {
        getInput: () => ({ name }),
        get currentUtcDateTime() {
          return new Date(clock);
        },
        isReplaying: false,
        callActivity: (fn: string, input: unknown) => ({ kind: 'activity', fn, input }),
        createTimer: (at: Date) => ({ kind: 'timer', at: at.getTime() }),
      },
    };
    const generator = orchestrator(context as unknown as df.OrchestrationContext);
    let step = generator.next();
    while (!step.done) {
      const task = step.value as unknown as { kind: 'activity'; fn: string; input: unknown } | { kind: 'timer'; at: number };
      if (task.kind === 'activity') {
        expect(task.fn).toBe(CHECK_DOMAIN_ACTIVITY);
        await onCheck(checks.length + 1);
        const out = (await activity.handler(task.input, new InvocationContext({ functionName: CHECK_DOMAIN_ACTIVITY }))) as CheckDomainOutput;
        checks.push(out);
        step = generator.next(out);
      } else {
        expect(task.at).toBeGreaterThanOrEqual(clock);
        timers.push(task.at);
        clock = task.at; // the durable timer fires
        step = generator.next(undefined);
      }
      if (checks.length > 100) throw new Error('orchestration does not end');
    }
    return { output: step.value as CheckDomainOutput, timers, checks };
  }

  it('passes on the first check: one activity, no timer', async () => {
    dns.replace(publishTold(await addDomain('first.example')));
    const run = await drive('first.example');
    expect(run.output).toMatchObject({ status: 'verified', checked: true });
    expect(run.checks).toHaveLength(1);
    expect(run.timers).toEqual([]);
  });

  it('passes after two failures, with timers at 5 and 15 minutes', async () => {
    const t0 = clock;
    const told = await addDomain('third.example');
    dns.replace({});
    const run = await drive('third.example', (n) => {
      if (n === 3) dns.replace(publishTold(told));
    });
    expect(run.checks.map((c) => c.status)).toEqual(['pending', 'pending', 'verified']);
    expect(run.timers).toEqual([t0 + 5 * MIN, t0 + 20 * MIN]);
    expect((await host.app.store.getDomain('third.example'))?.status).toBe('verified');
  });

  it('72 hours without success: failed, the last check on the 72 h mark, and the orchestration ends', async () => {
    dns.replace({});
    await addDomain('never.example');
    const created = (await host.app.store.getDomain('never.example'))!;
    const run = await drive('never.example');
    expect(run.output.status).toBe('failed');
    expect(run.timers.at(-1)).toBe(created.createdAt + VERIFY_WINDOW_MS);
    expect(run.timers.slice(0, 5).map((t, i) => t - (i ? run.timers[i - 1] : created.createdAt))).toEqual([5 * MIN, 15 * MIN, HOUR, 3 * HOUR, 6 * HOUR]);
    expect(run.timers.every((t, i) => !i || t - run.timers[i - 1] <= 6 * HOUR)).toBe(true);
    expect((await host.app.store.getDomain('never.example'))?.reason).toContain('not right within 72 hours');
  });

  it('drift on a re-check: degraded (with the reason), re-checked on the backoff, verified again once fixed', async () => {
    const told = await addDomain('drift.example');
    dns.replace(publishTold(told));
    expect((await drive('drift.example')).output.status).toBe('verified');
    clock = (await host.app.store.getDomain('drift.example'))!.nextCheckAt!; // the daily re-check is due
    const t1 = clock;
    const mx = told.find((r) => r.type === 'MX')!;
    let reason: string | null = null;
    const run = await drive('drift.example', async (n) => {
      if (n === 2) reason = (await host.app.store.getDomain('drift.example'))!.reason;
      if (n === 1) dns.set(mx.host, { MX: [{ exchange: 'mail.other.com', priority: 10 }], TXT: [told.find((r) => r.purpose === 'spf')!.value] });
      if (n === 3) dns.replace(publishTold(told));
    });
    expect(run.checks.map((c) => c.status)).toEqual(['degraded', 'degraded', 'verified']);
    expect(reason).toContain('MX points to mail.other.com, not to mx.example.com');
    expect(run.timers).toEqual([t1 + 5 * MIN, t1 + 20 * MIN]);
    const history = await host.app.store.getDomain('drift.example');
    expect(history?.status).toBe('verified');
  });

  it('the same orchestrator under durable-functions\' own replay engine (history as the extension sends it): two failures, timers at 5 and 15 minutes, then verified', async () => {
    // the SDK's orchestration runner (what df.app.orchestration registers), fed the event history the Durable extension would send
    const { Orchestrator } = require('durable-functions/lib/src/orchestrations/Orchestrator') as { Orchestrator: new (fn: unknown) => { listen(): (trigger: unknown, context: unknown) => Promise<{ isDone: boolean; output: unknown; actions: Array<Array<{ actionType: number; functionName?: string; input?: unknown; fireAt?: Date }>> }> } };
    const run = new Orchestrator(registry.orchestrations.get(VERIFY_DOMAIN_ORCHESTRATION)!).listen();
    const activity = registry.activities.get(CHECK_DOMAIN_ACTIVITY)!;
    const told = await addDomain('replayed.example');
    dns.replace({});
    const t0 = clock;
    const history: Array<Record<string, unknown>> = [
      { EventType: 12, EventId: -1, IsPlayed: false, Timestamp: new Date(t0).toISOString() },
      { EventType: 0, EventId: -1, IsPlayed: false, Timestamp: new Date(t0).toISOString(), Name: VERIFY_DOMAIN_ORCHESTRATION, Input: JSON.stringify({ name: 'replayed.example' }) },
    ];
    const timers: number[] = [];
    const statuses: string[] = [];
    let handled = 0;
    for (let episode = 0; episode < 20; episode++) {
      const state = await run(
        { history, input: { name: 'replayed.example' }, instanceId: 'domain-replayed.example', isReplaying: episode > 0, upperSchemaVersion: 0, parentInstanceId: '', maximumShortTimerDuration: '6.00:00:00', longRunningTimerIntervalDuration: '3.00:00:00', defaultHttpAsyncRequestSleepTimeMillseconds: 30000 },
        new InvocationContext({ functionName: VERIFY_DOMAIN_ORCHESTRATION }),
      );
      if (state.isDone) {
        expect(state.output).toMatchObject({ name: 'replayed.example', status: 'verified' });
        break;
      }
      const actions = state.actions.flat().slice(handled);
      expect(actions).toHaveLength(1);
      const action = actions[0];
      const id = handled++;
      if (action.functionName) {
        expect(action.functionName).toBe(CHECK_DOMAIN_ACTIVITY);
        if (statuses.length === 2) dns.replace(publishTold(told));
        const out = (await activity.handler(typeof action.input === 'string' ? JSON.parse(action.input) : action.input, new InvocationContext({ functionName: CHECK_DOMAIN_ACTIVITY }))) as CheckDomainOutput;
        statuses.push(out.status);
        history.push({ EventType: 4, EventId: id, IsPlayed: false, Timestamp: new Date(clock).toISOString(), Name: CHECK_DOMAIN_ACTIVITY });
        history.push({ EventType: 12, EventId: -1, IsPlayed: false, Timestamp: new Date(clock).toISOString() });
        history.push({ EventType: 5, EventId: -1, IsPlayed: false, Timestamp: new Date(clock).toISOString(), TaskScheduledId: id, Result: JSON.stringify(out) });
      } else {
        const fireAt = new Date(action.fireAt!).getTime();
        timers.push(fireAt);
        history.push({ EventType: 10, EventId: id, IsPlayed: false, Timestamp: new Date(clock).toISOString(), FireAt: new Date(fireAt).toISOString() });
        clock = fireAt;
        history.push({ EventType: 12, EventId: -1, IsPlayed: false, Timestamp: new Date(clock).toISOString() });
        history.push({ EventType: 11, EventId: -1, IsPlayed: false, Timestamp: new Date(clock).toISOString(), TimerId: id, FireAt: new Date(fireAt).toISOString() });
      }
    }
    expect(statuses).toEqual(['pending', 'pending', 'verified']);
    expect(timers).toEqual([t0 + 5 * MIN, t0 + 20 * MIN]);
  });

  it('the timer trigger is registered every 5 minutes with a Durable client input, and starts no second instance of a running orchestration', async () => {
    const timer = registry.timerFunctions.get(DOMAIN_TIMER.name)!;
    expect(timer.schedule).toBe('0 */5 * * * *');
    expect(timer.extraInputs?.map((i) => i.type)).toEqual(['durableClient']);

    const durable = await startFakeDurableHost();
    try {
      // a verified domain whose next check is tomorrow, a running instance, an unknown one, a finished one that is due
      const fresh = await addDomain('fresh.example');
      dns.replace(publishTold(fresh));
      expect((await drive('fresh.example')).output.status).toBe('verified');
      await addDomain('running.example');
      await addDomain('unknown.example');
      const d = (await host.app.store.getDomain('drift.example'))!;
      await host.app.store.claimDomainCheck('drift.example', 't', clock, clock + 1);
      await host.app.store.saveDomainCheck('drift.example', 't', { ...d, status: 'degraded', nextCheckAt: clock - 1 });
      durable.instances.set('domain-running.example', 'Running');
      durable.instances.set('domain-drift.example', 'Completed');
      durable.instances.set('domain-fresh.example', 'Completed');
      const due = (await host.app.store.listDomains()).filter((x) => x.status === 'pending' || x.status === 'degraded' || x.nextCheckAt! <= Date.now()).map((x) => x.name);
      expect(due).toEqual(expect.arrayContaining(['drift.example', 'running.example', 'unknown.example']));
      expect(due).not.toContain('fresh.example');

      // the handler as the host calls it: the Durable client comes from the extra input binding
      const context = new InvocationContext({ functionName: DOMAIN_TIMER.name, options: { trigger: { type: 'timerTrigger', name: 'timer' }, extraInputs: timer.extraInputs, extraOutputs: [] } });
      context.extraInputs.set(timer.extraInputs![0], durable.clientData);
      await timer.handler({ isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: { last: '', next: '', lastUpdated: '' } }, context);

      const started = durable.requests.filter((r) => r.method === 'POST').map((r) => r.path.replace(`/durabletask/orchestrators/${VERIFY_DOMAIN_ORCHESTRATION}/domain-`, ''));
      expect(started.sort()).toEqual(due.filter((n) => n !== 'running.example').sort());
      // the status of each was asked before its start; the running one was asked and never started again
      const asked = durable.requests.filter((r) => r.method === 'GET').map((r) => r.path.split('?')[0]);
      expect(asked).toContain('/durabletask/instances/domain-running.example');
      expect(started).not.toContain('running.example');
      expect(asked).not.toContain('/durabletask/instances/domain-fresh.example'); // not due: not even asked
      expect(durable.bodies.get('domain-unknown.example')).toEqual({ name: 'unknown.example' });

      // a second tick in the same hour: every one of them is running now, nothing starts
      const before = durable.requests.length;
      const again = await startDueVerifications(host.app.store, df.getClient(context), Date.now(), createLogger('silent'));
      expect(again.started).toEqual([]);
      expect(again.alive.sort()).toEqual(due.sort());
      expect(durable.requests.slice(before).filter((r) => r.method === 'POST')).toEqual([]);

      // an instance store that fails (not a 404) starts nothing: better an hour late than a replaced instance
      durable.failStatus = true;
      durable.instances.clear();
      const failing = await startDueVerifications(host.app.store, df.getClient(context), Date.now(), createLogger('silent'));
      expect(failing.started).toEqual([]);
    } finally {
      await durable.stop();
    }
  });
});

/** A loopback stand-in for the Durable extension's HTTP API that DurableClient calls (rpcBaseUrl). */
async function startFakeDurableHost() {
  const instances = new Map<string, string>();
  const bodies = new Map<string, unknown>();
  const requests: Array<{ method: string; path: string }> = [];
  const state = { failStatus: false };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? '', path: url.pathname + url.search });
    const reply = (status: number, body?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    const get = /^\/durabletask\/instances\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && get) {
      if (state.failStatus) return reply(500, { message: 'storage unavailable' });
      const id = decodeURIComponent(get[1]);
      const status = instances.get(id);
      if (!status) return reply(404);
      return reply(200, { name: VERIFY_DOMAIN_ORCHESTRATION, instanceId: id, runtimeStatus: status, createdTime: new Date().toISOString(), lastUpdatedTime: new Date().toISOString(), input: null, output: null, customStatus: null });
    }
    const start = /^\/durabletask\/orchestrators\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && start) {
      const id = decodeURIComponent(start[2]);
      instances.set(id, 'Running');
      const text = Buffer.concat(chunks).toString('utf8');
      bodies.set(id, text ? JSON.parse(text) : null);
      return reply(202, { id });
    }
    reply(404);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    instances,
    bodies,
    requests,
    set failStatus(v: boolean) {
      state.failStatus = v;
    },
    clientData: { taskHubName: 'NimbusMail', creationUrls: {}, managementUrls: {}, baseUrl: `http://127.0.0.1:${port}/`, requiredQueryStringParameters: '', rpcBaseUrl: `http://127.0.0.1:${port}/durabletask/` },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
