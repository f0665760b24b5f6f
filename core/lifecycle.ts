import type { Logger } from './logger';

/**
 * A process entry's shutdown: on SIGINT/SIGTERM run `stop` once, then exit 0 (1 if it
 * failed). With `followParent`, the process also stops when the process that started
 * it goes away: `npm start` does not pass a signal on to the server, so a `kill` of
 * npm (what a user of `npm start &` sees) would otherwise leave the server running.
 */
export function stopOnSignals(stop: () => Promise<void>, logger: Logger, message = 'shutting down', opts: { followParent?: boolean } = {}): void {
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
  if (opts.followParent) {
    const parent = process.ppid;
    // reparented (to init or a subreaper): the parent has exited
    setInterval(() => process.ppid !== parent && shutdown('parent exited'), 500).unref();
  }
}
