import { ConfigError, type Config } from '../../core/config';
import type { Logger } from '../../core/logger';
import type { InboundQueueMessage } from '../../core/types';
import { AzureBlobStore } from './azure-blob-store';
import { CosmosMailStore } from './cosmos-mail-store';
import { ServiceBusQueueSender } from './service-bus';

/**
 * The Azure adapters from app settings. Nothing connects here: each client opens
 * its connection on first use, so a worker or container starts fast and a
 * misconfigured service shows up in /api/health and the logs, not as a crash loop.
 * The settings themselves were validated by loadConfig (NIMBUS_MODE=azure).
 */
export function createAzureAdapters(config: Config, logger: Logger) {
  if (config.NIMBUS_MODE !== 'azure' || !config.NIMBUS_COSMOS_ENDPOINT || !config.NIMBUS_COSMOS_KEY || !config.NIMBUS_BLOB_CONNECTION_STRING || !config.NIMBUS_SERVICEBUS_CONNECTION) {
    throw new Error('createAzureAdapters needs NIMBUS_MODE=azure and its settings (loadConfig checks them)');
  }
  const { NIMBUS_COSMOS_ENDPOINT: endpoint, NIMBUS_COSMOS_KEY: key, NIMBUS_BLOB_CONNECTION_STRING: blobs, NIMBUS_SERVICEBUS_CONNECTION: bus } = config;
  return {
    store: settingCheck('NIMBUS_COSMOS_KEY', () => new CosmosMailStore({ endpoint, key, database: config.NIMBUS_COSMOS_DATABASE })),
    blobs: settingCheck('NIMBUS_BLOB_CONNECTION_STRING', () => new AzureBlobStore({ connectionString: blobs, container: config.NIMBUS_BLOB_CONTAINER })),
    queue: settingCheck('NIMBUS_SERVICEBUS_CONNECTION', () => new ServiceBusQueueSender<InboundQueueMessage>({ connectionString: bus, queue: config.NIMBUS_SERVICEBUS_QUEUE }, logger.child({ component: 'service-bus' }))),
  };
}

/** An SDK that refuses its settings (a key that is not base64, say) is a configuration error naming the setting; its message never holds the value. */
function settingCheck<T>(setting: string, make: () => T): T {
  try {
    return make();
  } catch (err) {
    throw new ConfigError([{ variable: setting, problem: err instanceof Error ? err.message : 'rejected by the Azure SDK' }]);
  }
}
