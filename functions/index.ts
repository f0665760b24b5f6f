import { app } from '@azure/functions';
import * as df from 'durable-functions';
import { createAzureAdapters } from '../adapters/azure/compose';
import { resolverFromConfig } from '../adapters/dns/node-resolver';
import { createOutboundTransport } from '../adapters/outbound/compose';
import { PasswordPool } from '../adapters/password-pool';
import { ConfigError, loadConfig } from '../core/config';
import { createLogger } from '../core/logger';
import { createAppContext } from './app-context';
import { registerFunctions } from './register';

/**
 * The Functions app's entry (package.json "main"). App settings are read and
 * checked once, when the worker loads this module: a missing or malformed setting
 * stops the worker with a message naming it, before any function is indexed.
 */
function start() {
  try {
    // this entry always runs the Azure shape (local mode is `npm start`), so its settings are required
    const config = loadConfig({ ...process.env, NIMBUS_MODE: 'azure' });
    const logger = createLogger(config.NIMBUS_LOG_LEVEL);
    // setup from anywhere needs NIMBUS_SETUP_TOKEN: on a public Function App, no client is "this machine"
    const setup = { code: config.NIMBUS_SETUP_TOKEN!, fromLoopback: false };
    const context = createAppContext(config, { ...createAzureAdapters(config, logger), passwords: new PasswordPool(), logger, setup, jwtSecret: config.NIMBUS_JWT_SECRET!, resolver: resolverFromConfig(config), transport: createOutboundTransport(config) });
    registerFunctions(
      { http: app.http, serviceBusQueue: app.serviceBusQueue, timer: app.timer, orchestration: (name, handler) => df.app.orchestration(name, handler), activity: (name, options) => df.app.activity(name, options) },
      () => context,
      { sweepIntervalMinutes: config.NIMBUS_SWEEP_INTERVAL_MINUTES },
    );
  } catch (err) {
    if (err instanceof ConfigError) console.error(err.message);
    throw err;
  }
}

// Streams both ways (Functions host 4.28+): a download is piped, not held whole in the
// worker, and a request body is read only by a handler that got past authentication.
app.setup({ enableHttpStream: true });
start();
