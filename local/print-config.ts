import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, SETTING_NAMES, loadConfig, maskedConfig, type Config } from '../core/config';

/** What start-up computes when a setting is unset: printed beside the setting, so nothing the server uses is left out. */
function computed(config: Config): Record<string, string> {
  const dataDir = resolve(config.NIMBUS_DATA_DIR);
  const jwtFile = join(dataDir, 'jwt-secret');
  return {
    NIMBUS_DATA_DIR: dataDir,
    NIMBUS_HOSTNAME: config.NIMBUS_HOSTNAME ?? `${hostname()} (this machine's host name)`,
    NIMBUS_JWT_SECRET: config.NIMBUS_JWT_SECRET
      ? '******** (from NIMBUS_JWT_SECRET)'
      : config.NIMBUS_MODE === 'azure'
        ? 'missing (required in azure mode)'
        : `******** (kept in ${jwtFile}${existsSync(jwtFile) ? '' : ', made on first start'})`,
    NIMBUS_SETUP_TOKEN: config.NIMBUS_SETUP_TOKEN ? '******** (from NIMBUS_SETUP_TOKEN)' : 'a one-time code printed at start while there are no users (local mode)',
  };
}

/** `npm run config`: the effective configuration, secrets masked, computed values said. */
try {
  const config = loadConfig();
  const unset = Object.fromEntries(SETTING_NAMES.map((name) => [name, '(unset)']));
  process.stdout.write(JSON.stringify({ ...unset, ...maskedConfig(config), ...computed(config) }, null, 2) + '\n');
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  throw err;
}
