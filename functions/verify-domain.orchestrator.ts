import type { OrchestrationContext, Task } from 'durable-functions';
import { VERIFY_WINDOW_MS } from '../core/domain-schedule';
import { CHECK_DOMAIN_ACTIVITY, type CheckDomainInput, type CheckDomainOutput } from './check-domain.activity';

/** The orchestration's function name (df.app.orchestration); instances are `domain-<name>`. */
export const VERIFY_DOMAIN_ORCHESTRATION = 'verify-domain';

export const instanceIdFor = (domain: string) => `domain-${domain}`;

/** If the activity gives no next time (it never should), try again after this. */
const FALLBACK_WAIT_MS = 5 * 60_000;

/**
 * One domain's verification: check (the activity stores the result and the next
 * check time from the schedule), then wait on a durable timer until that time, and
 * again, until the domain is verified or failed, or 72 h have passed since this
 * instance started; then it ends, and the timer starts a fresh instance when
 * the next check is due (durable timers in JavaScript last at most 6 days; the
 * longest wait here is a day). Deterministic for replay: time comes from
 * currentUtcDateTime, decisions from the activity's recorded output.
 */
export function* verifyDomainOrchestrator(context: OrchestrationContext): Generator<Task, CheckDomainOutput, CheckDomainOutput | undefined> {
  const input = context.df.getInput() as CheckDomainInput;
  const startedAt = context.df.currentUtcDateTime.getTime();
  for (;;) {
    const result = (yield context.df.callActivity(CHECK_DOMAIN_ACTIVITY, { name: input.name } satisfies CheckDomainInput)) as CheckDomainOutput;
    if (result.status === 'missing' || result.status === 'verified' || result.status === 'failed') return result;
    const now = context.df.currentUtcDateTime.getTime();
    const next = Math.max(result.nextCheckAt ?? now + FALLBACK_WAIT_MS, now);
    if (next - startedAt > VERIFY_WINDOW_MS) return result;
    yield context.df.createTimer(new Date(next));
  }
}
