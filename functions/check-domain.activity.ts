import type { InvocationContext } from '@azure/functions';
import type { DomainService } from '../core/domains';
import type { DomainStatus } from '../core/types';

/** The activity's function name (df.app.activity). */
export const CHECK_DOMAIN_ACTIVITY = 'check-domain';

export interface CheckDomainInput {
  name: string;
}

/** What the orchestrator needs to decide: the status after the check and when the next one is due. Small and JSON (Durable keeps it in its history). */
export interface CheckDomainOutput {
  name: string;
  status: DomainStatus | 'missing';
  nextCheckAt: number | null;
  /** false when another check held the domain (its result is the stored state). */
  checked: boolean;
}

/**
 * The Durable activity: one DNS check of one domain, stored (DomainService.check,
 * the code the local scheduler and the verify route run). Activities may do I/O
 * and read the clock; the orchestrator may not, so it decides only from this output.
 */
export function createCheckDomainActivity(getContext: () => { domains: DomainService }) {
  return async (input: unknown, _context: InvocationContext): Promise<CheckDomainOutput> => {
    const name = String((input as CheckDomainInput | null)?.name ?? '');
    const result = await getContext().domains.check(name);
    if (result.kind === 'missing') return { name, status: 'missing', nextCheckAt: null, checked: false };
    return { name, status: result.domain.status, nextCheckAt: result.domain.nextCheckAt, checked: result.kind === 'checked' };
  };
}
