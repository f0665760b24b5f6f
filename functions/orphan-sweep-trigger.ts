import type { InvocationContext, Timer } from '@azure/functions';
import type { OrphanSweeper } from '../core/orphans';

export const ORPHAN_SWEEP_TRIGGER = { name: 'orphan-sweep' } as const;

/**
 * NCRONTAB (with seconds, as the Functions timer wants it) for "every N minutes":
 * under an hour, every N minutes of the hour (N rounded, at least 1; a divisor of 60
 * keeps the gaps even); from an hour on, every H hours (rounded), at most daily.
 */
export function sweepSchedule(minutes: number): string {
  if (minutes < 60) return `0 */${Math.max(1, Math.round(minutes))} * * * *`;
  const hours = Math.round(minutes / 60);
  return hours >= 24 ? '0 0 0 * * *' : `0 0 */${hours} * * *`;
}

/**
 * The timer trigger of the orphan sweeper (the local host runs the same core code
 * on a timer of its own, local/sweeps.ts). A failed sweep throws: the Functions
 * host logs it, and the next tick tries again.
 */
export function createOrphanSweepTrigger(getContext: () => { orphans: OrphanSweeper }) {
  return async (_timer: Timer, _context: InvocationContext): Promise<void> => {
    await getContext().orphans.sweep();
  };
}
