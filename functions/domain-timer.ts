import type { InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { Logger } from '../core/logger';
import type { MailStore } from '../core/ports';
import { VERIFY_DOMAIN_ORCHESTRATION, instanceIdFor } from './verify-domain.orchestrator';

/**
 * Every 5 minutes (NCRONTAB with seconds): a new domain is checked within 5 minutes of
 * being added, as the schedule's first step asks; a run where nothing is due costs one
 * small query of the directory.
 */
export const DOMAIN_TIMER = { name: 'domain-timer', schedule: '0 */5 * * * *' } as const;

/** The part of the Durable client the timer uses (df.getClient gives the real one). */
export interface OrchestrationStarter {
  getStatus(instanceId: string): Promise<{ runtimeStatus: string }>;
  startNew(orchestratorFunctionName: string, options: { instanceId: string; input: unknown }): Promise<string>;
}

/** An instance in these states is alive: starting another with its id would replace it. */
const ALIVE = new Set(['Running', 'Pending', 'ContinuedAsNew', 'Suspended']);

/**
 * Starts one verification per domain that is pending or degraded or whose next check
 * is due, unless its instance (`domain-<name>`) is alive. The status is asked first
 * because startNew with an existing id replaces that instance; getStatus throws for
 * an id it has never seen (HTTP 404), which means "start one". Any other failure
 * skips the domain until the next run rather than risk replacing a live instance.
 */
export async function startDueVerifications(store: MailStore, client: OrchestrationStarter, now: number, logger: Logger): Promise<{ started: string[]; alive: string[] }> {
  const started: string[] = [];
  const alive: string[] = [];
  for (const domain of await store.listDomains()) {
    const due = domain.status === 'pending' || domain.status === 'degraded' || (domain.nextCheckAt !== null && domain.nextCheckAt <= now);
    if (!due) continue;
    const instanceId = instanceIdFor(domain.name);
    let status: string | null = null;
    try {
      status = (await client.getStatus(instanceId)).runtimeStatus;
    } catch (err) {
      if (!/\b404\b/.test(String((err as Error)?.message))) {
        logger.error({ err, domain: domain.name }, 'could not read the verification instance; trying at the next run');
        continue;
      }
    }
    if (status && ALIVE.has(status)) {
      alive.push(domain.name);
      continue;
    }
    await client.startNew(VERIFY_DOMAIN_ORCHESTRATION, { instanceId, input: { name: domain.name } });
    started.push(domain.name);
  }
  if (started.length) logger.info({ started }, 'domain verifications started');
  return { started, alive };
}

/** The timer trigger: its Durable client comes from the extra input binding (df.input.durableClient()). */
export function createDomainTimer(getContext: () => { store: MailStore; logger: Logger }, getClient: (context: InvocationContext) => OrchestrationStarter = df.getClient) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    const { store, logger } = getContext();
    await startDueVerifications(store, getClient(context), Date.now(), logger);
  };
}
