import { createAzureAdapters, type AzureAdapterOptions } from '../adapters/azure/compose';
import { resolverFromConfig } from '../adapters/dns/node-resolver';
import { DkimPool } from '../adapters/dkim-pool';
import { PasswordPool } from '../adapters/password-pool';
import { loadTlsMaterial, type TlsMaterial } from '../adapters/tls-certificate';
import { VerifiedPasswordCache } from '../core/auth';
import type { Config } from '../core/config';
import type { Logger } from '../core/logger';
import { createSubmission } from '../core/outbound';
import { loginGuardFromConfig, sendLimitFromConfig } from '../core/rate-limit';
import { createSmtpEdge, smtpEdgeOptions, type ListenerPorts, type SmtpEdge } from './server';

export interface AzureEdge {
  edge: SmtpEdge;
  /** The MX listener's port. */
  port: number;
  ports: ListenerPorts;
  tls: TlsMaterial;
  adapters: ReturnType<typeof createAzureAdapters>;
  stop(): Promise<void>;
}

/**
 * The SMTP edge of the Azure shape, on its own: recipients are checked against the
 * directory in Cosmos DB (remembered for NIMBUS_DIRECTORY_CACHE_MS), raw messages
 * stream to Blob Storage, and each accepted message is one Service Bus message for
 * the Functions app to file. 250 only after both are durable, as in local mode.
 * The submission listeners run here too: AUTH against the users in Cosmos DB (with
 * this process's own login limits), the hourly send limit counted in Cosmos DB (one
 * count with the Functions app's), outbound messages to the outbound Service Bus
 * queue, whose trigger in the Functions app delivers them.
 */
export async function startAzureEdge(config: Config, logger: Logger, adapterOptions: AzureAdapterOptions = {}): Promise<AzureEdge> {
  const adapters = createAzureAdapters(config, logger, adapterOptions);
  const { directory } = adapters;
  const options = smtpEdgeOptions(config, { key: Buffer.alloc(0), cert: Buffer.alloc(0) });
  // no data folder in a container: without NIMBUS_TLS_CERT_FILE/KEY_FILE the certificate lives as long as the process
  const tls = await loadTlsMaterial({ certFile: config.NIMBUS_TLS_CERT_FILE, keyFile: config.NIMBUS_TLS_KEY_FILE, dataDir: null, hostname: options.hostname });
  if (tls.source === 'ephemeral') logger.warn('NIMBUS_TLS_CERT_FILE/NIMBUS_TLS_KEY_FILE not set: STARTTLS and port 2465 use a self-signed certificate made for this process');
  const passwords = new PasswordPool();
  const dkim = new DkimPool();
  const submission = createSubmission({
    store: adapters.store,
    blobs: adapters.blobs,
    logger,
    inboundQueue: adapters.queue,
    outboundQueue: adapters.outboundQueue,
    sendLimiter: sendLimitFromConfig(config, adapters.sendCounter),
    domainLookups: directory,
    passwords: new VerifiedPasswordCache(passwords, config.NIMBUS_PASSWORD_CACHE_SECONDS * 1000),
    loginGuard: loginGuardFromConfig(config, adapters.loginCounter),
    dkimSigner: dkim.sign,
  });
  const edge = createSmtpEdge({ directory, blobs: adapters.blobs, queue: adapters.queue, submission, logger, resolver: resolverFromConfig(config) }, { ...options, tls });
  const ports = await edge.listen({ mx: config.NIMBUS_SMTP_PORT, submission: config.NIMBUS_SUBMISSION_PORT, submissionTls: config.NIMBUS_SUBMISSION_TLS_PORT }, config.NIMBUS_SMTP_HOST);
  return {
    edge,
    port: ports.mx,
    ports,
    tls,
    adapters,
    async stop() {
      await edge.close();
      await Promise.all([passwords.close(), dkim.close()]);
      await Promise.all([adapters.queue.close(), adapters.outboundQueue.close(), adapters.inboundBrowser.close(), adapters.outboundBrowser.close(), adapters.store.close(), adapters.blobs.close()]);
    },
  };
}
