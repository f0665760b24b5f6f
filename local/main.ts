import { ConfigError, loadConfig } from '../core/config';
import { stopOnSignals } from '../core/lifecycle';
import { createLogger } from '../core/logger';
import { startLocalHost } from './host';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.NIMBUS_LOG_LEVEL);
  const host = await startLocalHost(config, { logger });
  const api = `http://${config.NIMBUS_HTTP_HOST}:${host.httpPort}/api`;
  process.stdout.write(
    `Nimbus Mail is running (data in ${config.NIMBUS_DATA_DIR})\n` +
      `  SMTP  ${config.NIMBUS_SMTP_HOST}:${host.smtpPort}\n` +
      `  HTTP  ${api}\n`,
  );
  if ((await host.app.store.countUsers()) === 0) {
    process.stdout.write(
      `\nFirst run: create your domain and admin account:\n` +
        `  curl -s -X POST ${api}/setup -H 'content-type: application/json' \\\n` +
        `    -d '{"domain":"example.com","email":"admin@example.com","password":"change-me-please","name":"Admin"}'\n`,
    );
  }
  stopOnSignals(() => host.stop(), logger);
}

main().catch((err) => {
  process.stderr.write(`Nimbus Mail failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
