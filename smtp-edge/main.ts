import { ConfigError, loadConfig } from '../core/config';
import { stopOnSignals } from '../core/lifecycle';
import { createLogger } from '../core/logger';
import { noteMissingNodeFlags } from '../core/node-flags';
import { startAzureEdge } from './azure-edge';

/**
 * `node dist/smtp-edge/main.js`: the SMTP edge container of the Azure shape
 * (see Dockerfile). Settings as for the Functions app; a bad one exits 2, named.
 */
async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, NIMBUS_MODE: 'azure' });
  const logger = createLogger(config.NIMBUS_LOG_LEVEL, 'nimbus-edge');
  noteMissingNodeFlags(logger);
  const edge = await startAzureEdge(config, logger);
  logger.info({ host: config.NIMBUS_SMTP_HOST, port: edge.port, submissionPort: edge.ports.submission, submissionTlsPort: edge.ports.submissionTls }, 'SMTP edge listening');
  stopOnSignals(() => edge.stop(), logger, 'shutting down: finishing open sessions');
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  process.stderr.write(`SMTP edge failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
