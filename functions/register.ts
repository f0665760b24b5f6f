import type { HttpFunctionOptions, ServiceBusQueueFunctionOptions, TimerFunctionOptions } from '@azure/functions';
import type { AppContext } from './app-context';
import { toHandler } from './http-kit';
import { routes } from './http/routes';
import { INBOUND_TRIGGER, createInboundTrigger } from './inbound-trigger';
import { ORPHAN_SWEEP_TRIGGER, createOrphanSweepTrigger, sweepSchedule } from './orphan-sweep-trigger';

/** The part of @azure/functions' `app` that registration uses (a test records it). */
export interface FunctionsRegistry {
  http(name: string, options: HttpFunctionOptions): void;
  serviceBusQueue(name: string, options: ServiceBusQueueFunctionOptions): void;
  timer(name: string, options: TimerFunctionOptions): void;
}

/**
 * Registers every trigger with the Functions host: each HTTP route the local host
 * mounts (same route list, same methods; the host's route prefix is "api"), the
 * Service Bus trigger that files inbound mail, and the orphan sweeper's timer
 * (NIMBUS_SWEEP_INTERVAL_MINUTES; 0 registers none). Later triggers (sending, DNS
 * checks) register here too.
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
  const sweepMinutes = opts.sweepIntervalMinutes ?? 60;
  if (sweepMinutes > 0) {
    registry.timer(ORPHAN_SWEEP_TRIGGER.name, { schedule: sweepSchedule(sweepMinutes), runOnStartup: false, handler: createOrphanSweepTrigger(getContext) });
  }
}
