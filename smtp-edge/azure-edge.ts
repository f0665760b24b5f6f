import { createAzureAdapters, type AzureAdapterOptions } from '../adapters/azure/compose';
import { resolverFromConfig } from '../adapters/dns/node-resolver';
import type { Config } from '../core/config';
import { CachedDirectory } from '../core/directory';
import type { Logger } from '../core/logger';
import { createSmtpEdge, smtpEdgeOptions, type SmtpEdge } from './server';

export interface AzureEdge {
  edge: SmtpEdge;
  port: number;
  adapters: ReturnType<typeof createAzureAdapters>;
  stop(): Promise<void>;
}

/**
 * The SMTP edge of the Azure shape, on its own: recipients are checked against the
 * directory in Cosmos DB (remembered for NIMBUS_DIRECTORY_CACHE_MS), raw messages
 * stream to Blob Storage, and each accepted message is one Service Bus message for
 * the Functions app to file. 250 only after both are durable, as in local mode.
 */
export async function startAzureEdge(config: Config, logger: Logger, options: AzureAdapterOptions = {}): Promise<AzureEdge> {
  const adapters = createAzureAdapters(config, logger, options);
  const directory = new CachedDirectory(adapters.store, config.NIMBUS_DIRECTORY_CACHE_MS);
  const edge = createSmtpEdge({ directory, blobs: adapters.blobs, queue: adapters.queue, logger, resolver: resolverFromConfig(config) }, smtpEdgeOptions(config));
  const address = await edge.listen(config.NIMBUS_SMTP_PORT, config.NIMBUS_SMTP_HOST);
  return {
    edge,
    port: address.port,
    adapters,
    async stop() {
      await edge.close();
      await Promise.all([adapters.queue.close(), adapters.store.close(), adapters.blobs.close()]);
    },
  };
}
