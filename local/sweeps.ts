import type { Logger } from '../core/logger';
import type { OrphanSweeper } from '../core/orphans';

/**
 * The local stand-in for the Azure timer function: runs the orphan sweeper every
 * `intervalMs` (the first run a minute after start, or sooner with a shorter
 * interval), one sweep at a time. A failed sweep is logged and the next one comes
 * as planned. Stopping waits for a sweep under way.
 */
export function startSweeps(orphans: OrphanSweeper, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  if (intervalMs <= 0) return { stop: async () => undefined };
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = () => {
    current = orphans
      .sweep()
      .catch((err) => logger.error({ err }, 'orphan sweep failed; the next one runs as planned'))
      .finally(() => {
        if (!stopped) timer = setTimeout(run, intervalMs);
      });
  };
  timer = setTimeout(run, Math.min(intervalMs, 60_000));
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
