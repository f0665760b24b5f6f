import type { Logger } from './logger';

/** A process entry's shutdown: on SIGINT/SIGTERM run `stop` once, then exit 0 (1 if it failed). */
export function stopOnSignals(stop: () => Promise<void>, logger: Logger, message = 'shutting down'): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, message);
    stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
