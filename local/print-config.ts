import { ConfigError, loadConfig, maskedConfig } from '../core/config';

/** `npm run config`: the effective configuration, secrets masked. */
try {
  process.stdout.write(JSON.stringify(maskedConfig(loadConfig()), null, 2) + '\n');
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  throw err;
}
