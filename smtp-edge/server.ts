import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { hostname as osHostname } from 'node:os';
import type { Config } from '../core/config';
import type { Logger } from '../core/logger';
import { CachingResolver } from '../core/dns';
import type { BlobStore, Directory, DnsResolver, QueueSender } from '../core/ports';
import type { InboundQueueMessage } from '../core/types';
import { addressMatcher } from '../core/address-match';
import { installEnhancedCodeReplies } from './enhanced-codes';
import { createConnectionLimit } from './hooks/connect';
import { createDataHook } from './hooks/data';
import { createRcptToHook } from './hooks/rcpt-to';
import { SummaryPool } from './summary-pool';

export interface SmtpEdgeOptions {
  hostname: string;
  maxMessageBytes: number;
  maxRecipients: number;
  maxClients: number;
  /** Open connections allowed per client address; 0 = no limit. */
  maxConnectionsPerIp: number;
  /** Addresses and CIDR ranges exempt from the per-address limit. */
  trustedNetworks: string[];
  socketTimeoutMs: number;
  /** NIMBUS_DMARC_REJECT. */
  dmarcReject: boolean;
  /** NIMBUS_DNS_TIMEOUT_MS: the authentication lookups after the last byte get three of these. */
  dnsTimeoutMs: number;
}

/** The edge's options from the configuration (both hosts use this). */
export function smtpEdgeOptions(config: Config): SmtpEdgeOptions {
  return {
    hostname: config.NIMBUS_HOSTNAME ?? osHostname(),
    maxMessageBytes: config.NIMBUS_MAX_MESSAGE_BYTES,
    maxRecipients: config.NIMBUS_MAX_RECIPIENTS,
    maxClients: config.NIMBUS_SMTP_MAX_CLIENTS,
    maxConnectionsPerIp: config.NIMBUS_SMTP_MAX_CONNECTIONS_PER_IP,
    trustedNetworks: config.NIMBUS_TRUSTED_NETWORKS,
    socketTimeoutMs: config.NIMBUS_SMTP_SOCKET_TIMEOUT_MS,
    dmarcReject: config.NIMBUS_DMARC_REJECT,
    dnsTimeoutMs: config.NIMBUS_DNS_TIMEOUT_MS,
  };
}

export interface SmtpEdge {
  server: SMTPServer;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** The MX listener. It wires the hooks and nothing else: policy lives in hooks/. */
export function createSmtpEdge(deps: { directory: Directory; blobs: BlobStore; queue: QueueSender<InboundQueueMessage>; logger: Logger; resolver: DnsResolver }, opts: SmtpEdgeOptions): SmtpEdge {
  installEnhancedCodeReplies();
  const logger = deps.logger.child({ component: 'smtp-edge' });
  // many messages from one sender domain ask the same SPF/DKIM/DMARC questions: answers are kept a minute
  const auth = { resolver: new CachingResolver(deps.resolver, 60_000), hostname: opts.hostname, deadlineMs: 3 * opts.dnsTimeoutMs, logger };
  const summaries = new SummaryPool();
  const perIp = createConnectionLimit(opts.maxConnectionsPerIp, opts.hostname, addressMatcher(opts.trustedNetworks));
  const server = new SMTPServer({
    name: opts.hostname,
    banner: 'Nimbus Mail ESMTP',
    size: opts.maxMessageBytes,
    maxRecipients: opts.maxRecipients,
    maxClients: opts.maxClients,
    socketTimeout: opts.socketTimeoutMs,
    closeTimeout: 5_000,
    // AUTH and STARTTLS come with the submission listener (sending issue). Until then
    // nobody authenticates, so foreign recipients are always refused (no open relay);
    // smtp-server's bundled certificate is public, so offering STARTTLS with it would be theatre.
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideSTARTTLS: true,
    hideENHANCEDSTATUSCODES: false,
    // reverse DNS of every client costs a lookup per connection; the Received header uses the IP
    disableReverseLookup: true,
    logger: false,
    onConnect: perIp.onConnect,
    onClose: perIp.onClose,
    onRcptTo: createRcptToHook({ directory: deps.directory, logger }),
    onData: createDataHook({ blobs: deps.blobs, queue: deps.queue, logger, hostname: opts.hostname, maxMessageBytes: opts.maxMessageBytes, createSummaryParser: summaries.createParser, auth, dmarcReject: opts.dmarcReject }),
  });
  server.on('error', (err) => logger.error({ err }, 'smtp server error'));

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.server.once('error', onError);
        server.listen(port, host, () => {
          server.server.off('error', onError);
          resolve(server.server.address() as AddressInfo);
        });
      });
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await summaries.close();
    },
  };
}
