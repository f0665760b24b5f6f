import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../core/config';
import { stopOnSignals } from '../core/lifecycle';
import { createLogger } from '../core/logger';
import { noteMissingNodeFlags } from '../core/node-flags';
import { startLocalHost } from './host';

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.NIMBUS_MODE === 'azure') {
    throw new ConfigError([{ variable: 'NIMBUS_MODE', problem: '"azure" runs as the Functions app (func start) and the edge (node dist/smtp-edge/main.js); npm start is the local shape' }]);
  }
  const logger = createLogger(config.NIMBUS_LOG_LEVEL);
  noteMissingNodeFlags(logger);
  const host = await startLocalHost(config, { logger });
  // the server's own PID, for a service manager or `kill $(cat data/nimbus.pid)`; removed on a clean stop
  const pidFile = join(resolve(config.NIMBUS_DATA_DIR), 'nimbus.pid');
  writeFileSync(pidFile, `${process.pid}\n`);
  const stop = async () => {
    await host.stop();
    rmSync(pidFile, { force: true });
  };
  // under `npm start`, npm does not pass signals on: stop when npm goes away
  stopOnSignals(stop, logger, 'shutting down', { followParent: process.env.npm_lifecycle_event === 'start' });
  const api = `http://${config.NIMBUS_HTTP_HOST}:${host.httpPort}/api`;
  const tls =
    host.tls.source === 'configured'
      ? `certificate from ${host.tls.path}`
      : `self-signed certificate ${host.tls.source === 'generated' ? 'generated now' : 'made on the first start'} in ${host.tls.path} (clients will warn; set NIMBUS_TLS_CERT_FILE and NIMBUS_TLS_KEY_FILE for a real one)`;
  process.stdout.write(
    `Nimbus Mail is running (data in ${config.NIMBUS_DATA_DIR})\n` +
      `  SMTP  ${config.NIMBUS_SMTP_HOST}:${host.smtpPort}\n` +
      `  HTTP  ${api}\n` +
      `  Web   http://${config.NIMBUS_HTTP_HOST}:${host.httpPort}/ (the webmail)\n` +
      `  Submission  ${config.NIMBUS_SMTP_HOST}:${host.ports.submission} (STARTTLS), ${config.NIMBUS_SMTP_HOST}:${host.ports.submissionTls} (TLS); AUTH with your email and password\n` +
      `  TLS   ${tls}\n` +
      `  Outbound  ${config.NIMBUS_OUTBOUND_TRANSPORT === 'none' ? 'none: mail to other domains is held (set NIMBUS_OUTBOUND_TRANSPORT=smtp or sendgrid)' : config.NIMBUS_OUTBOUND_TRANSPORT}\n`,
  );
  if ((await host.app.store.countUsers()) === 0) {
    process.stdout.write(
      `\nFirst run: open the webmail on this machine to create your domain and admin account, or:\n` +
        `  curl -s -X POST ${api}/setup -H 'content-type: application/json' \\\n` +
        `    -d '{"domain":"example.com","email":"admin@example.com","password":"change-me-please","name":"Admin"}'\n` +
        // a configured NIMBUS_SETUP_TOKEN is a secret and is not printed; a one-time code made now is
        (config.NIMBUS_SETUP_TOKEN
          ? `From another machine, give the value of NIMBUS_SETUP_TOKEN as the webmail's setup code, or add it as "setupCode".\n`
          : `From another machine, give the setup code ${host.app.setup.code} in the webmail, or add "setupCode":"${host.app.setup.code}" (one time; a new code at each start until setup is done).\n`),
    );
  }
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  process.stderr.write(`Nimbus Mail failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
