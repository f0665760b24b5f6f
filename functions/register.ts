import type { HttpFunctionOptions, ServiceBusQueueFunctionOptions, TimerFunctionOptions } from '@azure/functions';
import * as df from 'durable-functions';
import type { ActivityOptions, OrchestrationHandler } from 'durable-functions';
import type { AppContext } from './app-context';
import { CHECK_DOMAIN_ACTIVITY, createCheckDomainActivity } from './check-domain.activity';
import { DOMAIN_TIMER, createDomainTimer } from './domain-timer';
import { toHandler } from './http-kit';
import { routes } from './http/routes';
import { INBOUND_TRIGGER, createInboundTrigger } from './inbound-trigger';
import { ORPHAN_SWEEP_TRIGGER, createOrphanSweepTrigger, sweepSchedule } from './orphan-sweep-trigger';
import { VERIFY_DOMAIN_ORCHESTRATION, verifyDomainOrchestrator } from './verify-domain.orchestrator';
import { OUTBOUND_TRIGGER, createOutboundTrigger } from './outbound-trigger';

/** The parts of @azure/functions' `app` and durable-functions' `df.app` that registration uses (a test records it). */
export interface FunctionsRegistry {
  http(name: string, options: HttpFunctionOptions): void;
  serviceBusQueue(name: string, options: ServiceBusQueueFunctionOptions): void;
  timer(name: string, options: TimerFunctionOptions): void;
  orchestration(name: string, handler: OrchestrationHandler): void;
  activity(name: string, options: ActivityOptions): void;
}

/**
 * Registers every trigger with the Functions host: each HTTP route the local host
 * mounts (same route list, same methods; the host's route prefix is "api"), the
 * Service Bus triggers that file inbound mail and deliver outbound mail, the orphan
 * sweeper's timer (NIMBUS_SWEEP_INTERVAL_MINUTES; 0 registers none), and the DNS
 * verification: a timer (every 5 minutes) with a Durable client that starts one orchestration
 * per due domain, the orchestrator, and its check activity.
 */
export function registerFunctions(registry: FunctionsRegistry, getContext: () => AppContext, opts: { sweepIntervalMinutes?: number } = {}): void {
  for (const def of routes) {
    let handler: ReturnType<typeof toHandler> | null = null;
    registry.http(def.name, {
      methods: def.methods,
      route: def.route,
      authLevel: 'anonymous', // the API checks its own bearer tokens
      handler: (req, ctx) => (handler ??= toHandler(def, getContext()))(req, ctx),
    });
  }
  registry.serviceBusQueue(INBOUND_TRIGGER.name, {
    connection: INBOUND_TRIGGER.connection,
    queueName: INBOUND_TRIGGER.queueName,
    cardinality: 'one',
    handler: createInboundTrigger(getContext),
  });
  registry.serviceBusQueue(OUTBOUND_TRIGGER.name, {
    connection: OUTBOUND_TRIGGER.connection,
    queueName: OUTBOUND_TRIGGER.queueName,
    cardinality: 'one',
    handler: createOutboundTrigger(getContext),
  });
  const sweepMinutes = opts.sweepIntervalMinutes ?? 60;
  if (sweepMinutes > 0) {
    registry.timer(ORPHAN_SWEEP_TRIGGER.name, { schedule: sweepSchedule(sweepMinutes), runOnStartup: false, handler: createOrphanSweepTrigger(getContext) });
  }
  registry.timer(DOMAIN_TIMER.name, {
    schedule: DOMAIN_TIMER.schedule,
    extraInputs: [df.input.durableClient()],
    handler: createDomainTimer(getContext),
  });
  registry.orchestration(VERIFY_DOMAIN_ORCHESTRATION, verifyDomainOrchestrator);
  registry.activity(CHECK_DOMAIN_ACTIVITY, { handler: createCheckDomainActivity(getContext) });
}
