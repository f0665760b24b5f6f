import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { ConfigError, type Config } from '../../core/config';
import type { Logger } from '../../core/logger';
import { CachedDirectory } from '../../core/directory';
import type { InboundQueueMessage, OutboundQueueMessage } from '../../core/types';
import { AzureBlobStore, type AzureBlobConnection } from './azure-blob-store';
import { CosmosMailStore } from './cosmos-mail-store';
import { ServiceBusQueueBrowser, ServiceBusQueueSender, type ServiceBusConnection, type ServiceBusSenderOptions } from './service-bus';

/** What a host or a test may change of the adapters' defaults: the credential, shorter Service Bus tries. */
export interface AzureAdapterOptions {
  credential?: TokenCredential;
  serviceBus?: Pick<ServiceBusSenderOptions, 'maxRetries' | 'retryDelayMs' | 'tryTimeoutMs'>;
}

/**
 * The Azure adapters from app settings. Nothing connects here: each client opens
 * its connection on first use, so a worker or container starts fast and a
 * misconfigured service shows up in /api/health and the logs, not as a crash loop.
 * The settings themselves were validated by loadConfig (NIMBUS_MODE=azure): each
 * service comes with a key / connection string, or with an endpoint only, and then
 * every adapter signs in with one DefaultAzureCredential (the managed identity named
 * by AZURE_CLIENT_ID in Azure, `az login` on a workstation). `credential` replaces
 * it (tests inject one that records the scopes asked for).
 */
export function createAzureAdapters(config: Config, logger: Logger, opts: AzureAdapterOptions = {}) {
  const endpoint = config.NIMBUS_COSMOS_ENDPOINT;
  const blobs = config.NIMBUS_BLOB_CONNECTION_STRING ?? config.NIMBUS_BLOB_ACCOUNT_URL;
  const bus = config.NIMBUS_SERVICEBUS_CONNECTION ?? config.NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace;
  if (config.NIMBUS_MODE !== 'azure' || !endpoint || !blobs || !bus) {
    throw new Error('createAzureAdapters needs NIMBUS_MODE=azure and its settings (loadConfig checks them)');
  }
  let shared: TokenCredential | undefined = opts.credential;
  const credential = () => (shared ??= new DefaultAzureCredential(config.AZURE_CLIENT_ID ? { managedIdentityClientId: config.AZURE_CLIENT_ID } : {}));

  const cosmosAuth = config.NIMBUS_COSMOS_KEY !== undefined ? { key: config.NIMBUS_COSMOS_KEY } : { credential: credential() };
  const blobAuth: AzureBlobConnection = config.NIMBUS_BLOB_CONNECTION_STRING !== undefined ? { connectionString: config.NIMBUS_BLOB_CONNECTION_STRING } : { accountUrl: blobs, credential: credential() };
  const busAuth: ServiceBusConnection = config.NIMBUS_SERVICEBUS_CONNECTION !== undefined ? { connectionString: config.NIMBUS_SERVICEBUS_CONNECTION } : { fullyQualifiedNamespace: bus, credential: credential() };
  const busSetting = 'connectionString' in busAuth ? 'NIMBUS_SERVICEBUS_CONNECTION' : 'NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace';
  const store = settingCheck(config.NIMBUS_COSMOS_KEY !== undefined ? 'NIMBUS_COSMOS_KEY' : 'NIMBUS_COSMOS_ENDPOINT', () => new CosmosMailStore({ endpoint, ...cosmosAuth, database: config.NIMBUS_COSMOS_DATABASE }));
  return {
    store,
    /** The hourly send limit counts in Cosmos DB: every Functions instance and edge replica sends for the same users. */
    sendCounter: store,
    /** The per-account login limit counts there too: every Functions instance and the edge check passwords. */
    loginCounter: store,
    /** The directory remembered for NIMBUS_DIRECTORY_CACHE_MS (Cosmos DB is across the network): the edge's RCPT lookups, and domains on the send path (DKIM key, hosted or not). */
    directory: new CachedDirectory(store, config.NIMBUS_DIRECTORY_CACHE_MS),
    blobs: settingCheck('connectionString' in blobAuth ? 'NIMBUS_BLOB_CONNECTION_STRING' : 'NIMBUS_BLOB_ACCOUNT_URL', () => new AzureBlobStore({ ...blobAuth, container: config.NIMBUS_BLOB_CONTAINER })),
    queue: settingCheck(busSetting, () => new ServiceBusQueueSender<InboundQueueMessage>({ ...busAuth, queue: config.NIMBUS_SERVICEBUS_QUEUE, ...opts.serviceBus }, logger.child({ component: 'service-bus' }))),
    /** Peeks the inbound queue (the orphan sweeper's question: which blobs do waiting messages need); needs Listen rights (Data Receiver role). */
    inboundBrowser: new ServiceBusQueueBrowser<InboundQueueMessage>({ ...busAuth, queue: config.NIMBUS_SERVICEBUS_QUEUE }),
    /** Outbound deliveries and their scheduled retries (sent by the API, the edge's submissions and the outbound trigger). */
    outboundQueue: settingCheck(busSetting, () => new ServiceBusQueueSender<OutboundQueueMessage>({ ...busAuth, queue: config.NIMBUS_SERVICEBUS_OUTBOUND_QUEUE, ...opts.serviceBus }, logger.child({ component: 'service-bus-outbound' }))),
    /** Peeks the outbound queue: a message waiting for delivery keeps its bytes from the orphan sweeper. */
    outboundBrowser: new ServiceBusQueueBrowser<OutboundQueueMessage>({ ...busAuth, queue: config.NIMBUS_SERVICEBUS_OUTBOUND_QUEUE }),
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
