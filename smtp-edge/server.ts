import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { hostname as osHostname } from 'node:os';
import type { Config } from '../core/config';
import type { Logger } from '../core/logger';
import type { SubmissionPort } from '../core/outbound';
import type { BlobStore, Directory, DnsResolver, QueueSender } from '../core/ports';
import type { InboundQueueMessage } from '../core/types';
import { addressMatcher } from '../core/address-match';
import { installEnhancedCodeReplies } from './enhanced-codes';
import { createAuthHook } from './hooks/auth';
import { createConnectionLimit } from './hooks/connect';
import { createDataHook } from './hooks/data';
import { createMailFromHook } from './hooks/mail-from';
import { createRcptToHook } from './hooks/rcpt-to';
import { AnalysisPool } from './analysis-pool';
import type { MessageSummary } from '../core/types';
import { installFastDataScan } from './data-scan';
import { installGreetingDelay } from './greeting-delay';
import { installTlsAuthPolicy } from './tls-auth-policy';
import { DATA_SLOT_WAIT_MS, DataGate, installDataGate } from './data-gate';

export interface SmtpEdgeOptions {
  hostname: string;
  maxMessageBytes: number;
  maxRecipients: number;
  maxClients: number;
  /** Open connections allowed per client address (all listeners together); 0 = no limit. */
  maxConnectionsPerIp: number;
  /** Addresses and CIDR ranges exempt from the per-address limit. */
  trustedNetworks: string[];
  socketTimeoutMs: number;
  /**
   * NIMBUS_SMTP_GREETING_DELAY_MS: the early-talker pause before the MX listener's greeting
   * (greeting-delay.ts). The submission listeners greet at once: nothing is taken there
   * before AUTH, so an early talker gains nothing, and a mail client would wait for nothing
   * (Postfix, too, screens for early talkers on port 25 only: postscreen).
   */
  greetingDelayMs: number;
  /** NIMBUS_SMTP_DATA_SLOTS: sessions that receive a message at once (data-gate.ts); 0 = no limit. */
  dataSlots: number;
  /** How long a session waits for a slot before it receives its message anyway. */
  dataSlotWaitMs: number;
  /** NIMBUS_DMARC_REJECT. */
  dmarcReject: boolean;
  /** NIMBUS_DNS_TIMEOUT_MS: the authentication lookups after the last byte get three of these. */
  dnsTimeoutMs: number;
  /** The certificate offered by STARTTLS and the implicit-TLS listener. */
  tls: { key: Buffer; cert: Buffer };
  /** Whether a client may AUTH before TLS: NIMBUS_SMTP_ALLOW_INSECURE_AUTH, else only from NIMBUS_TRUSTED_NETWORKS (loopback by default). */
  plainAuthAllowed: (remoteAddress: string) => boolean;
}

/** The edge's options from the configuration and the certificate (both hosts use this). */
export function smtpEdgeOptions(config: Config, tls: { key: Buffer; cert: Buffer }): SmtpEdgeOptions {
  return {
    hostname: config.NIMBUS_HOSTNAME ?? osHostname(),
    maxMessageBytes: config.NIMBUS_MAX_MESSAGE_BYTES,
    maxRecipients: config.NIMBUS_MAX_RECIPIENTS,
    maxClients: config.NIMBUS_SMTP_MAX_CLIENTS,
    maxConnectionsPerIp: config.NIMBUS_SMTP_MAX_CONNECTIONS_PER_IP,
    trustedNetworks: config.NIMBUS_TRUSTED_NETWORKS,
    socketTimeoutMs: config.NIMBUS_SMTP_SOCKET_TIMEOUT_MS,
    greetingDelayMs: config.NIMBUS_SMTP_GREETING_DELAY_MS,
    dataSlots: config.NIMBUS_SMTP_DATA_SLOTS,
    dataSlotWaitMs: DATA_SLOT_WAIT_MS,
    dmarcReject: config.NIMBUS_DMARC_REJECT,
    dnsTimeoutMs: config.NIMBUS_DNS_TIMEOUT_MS,
    tls,
    // a client on this machine (or a network the operator trusts, as Postfix's $mynetworks) gains nothing from TLS
    plainAuthAllowed: config.NIMBUS_SMTP_ALLOW_INSECURE_AUTH ? () => true : addressMatcher(config.NIMBUS_TRUSTED_NETWORKS),
  };
}

/** The three listeners: MX (STARTTLS offered, AUTH after it), submission with STARTTLS, submission with implicit TLS. */
export type ListenerName = 'mx' | 'submission' | 'submissionTls';
export type ListenerPorts = Record<ListenerName, number>;

export interface SmtpEdgeDeps {
  directory: Directory;
  blobs: BlobStore;
  queue: QueueSender<InboundQueueMessage>;
  /** AUTH and sending (core/outbound.ts); everything the edge may do for a logged-in user. */
  submission: SubmissionPort;
  logger: Logger;
  /** DNS for the inbound SPF/DKIM/DMARC checks. */
  resolver: DnsResolver;
}

export interface SmtpEdge {
  servers: Record<ListenerName, SMTPServer>;
  /** The MX listener (as before the submission listeners came). */
  server: SMTPServer;
  /**
   * The summary of a whole message on the analysis thread, for messages the API composed
   * (the main thread is the API's bottleneck); in this thread if the analysis thread could not.
   */
  summarize(raw: Buffer): Promise<MessageSummary>;
  /** Opens every listener on `host`; resolves with the ports they got (0 asks the OS). */
  listen(ports: ListenerPorts, host: string): Promise<ListenerPorts>;
  close(): Promise<void>;
}

function listenOne(server: SMTPServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      resolve((server.server.address() as AddressInfo).port);
    });
  });
}

/**
 * The SMTP edge: it wires the hooks and nothing else (policy lives in hooks/ and
 * core/). Mail from the internet and mail from logged-in users share the same hooks;
 * what differs per listener is only whether AUTH is required and whether TLS is
 * implicit. AUTH is offered once the connection is encrypted (or from loopback).
 */
export function createSmtpEdge(deps: SmtpEdgeDeps, opts: SmtpEdgeOptions): SmtpEdge {
  installEnhancedCodeReplies();
  installTlsAuthPolicy();
  installGreetingDelay();
  installFastDataScan();
  installDataGate();
  const logger = deps.logger.child({ component: 'smtp-edge' });
  let lateLogged = 0;
  const gate =
    opts.dataSlots > 0
      ? new DataGate(opts.dataSlots, opts.dataSlotWaitMs, (counts) => {
          // once a minute at most: under a flood this would be every session
          if (Date.now() - lateLogged < 60_000) return;
          lateLogged = Date.now();
          logger.warn({ ...counts, slots: opts.dataSlots, waitedMs: opts.dataSlotWaitMs }, 'a DATA went ahead without a free slot after the longest wait (slow senders, or more mail than NIMBUS_SMTP_DATA_SLOTS lets through)');
        })
      : undefined;
  // the summary and the authentication run on the analysis thread; its DNS questions are answered
  // here by the edge's resolver (the thread keeps the answers a minute: analysis-thread.ts)
  const analyses = new AnalysisPool({ auth: { resolver: deps.resolver, hostname: opts.hostname, deadlineMs: 3 * opts.dnsTimeoutMs }, logger });
  const perIp = createConnectionLimit(opts.maxConnectionsPerIp, opts.hostname, addressMatcher(opts.trustedNetworks));
  const hooks = {
    onConnect: perIp.onConnect,
    // nothing to check once TLS is up; answered at once (smtp-server's default waits a setImmediate, a
    // moment in which a client on the implicit-TLS listener that talks first would still be an early talker)
    onSecure: (_socket: unknown, _session: unknown, callback: (err?: Error | null) => void) => callback(),
    onClose: perIp.onClose,
    onAuth: createAuthHook({ submission: deps.submission, logger }),
    onMailFrom: createMailFromHook({ submission: deps.submission, logger }),
    onRcptTo: createRcptToHook({ directory: deps.directory, logger }),
    onData: createDataHook({ blobs: deps.blobs, queue: deps.queue, submission: deps.submission, logger, hostname: opts.hostname, maxMessageBytes: opts.maxMessageBytes, analyze: analyses.analyze, dmarcReject: opts.dmarcReject, gate }),
  };
  const make = (listener: { authOptional: boolean; secure: boolean; greetingDelayMs: number }) => {
    const options: SMTPServerOptions & { plainAuthAllowed: (ip: string) => boolean; greetingDelayMs: number; dataGate?: DataGate } = {
      name: opts.hostname,
      banner: 'Nimbus Mail ESMTP',
      size: opts.maxMessageBytes,
      maxRecipients: opts.maxRecipients,
      maxClients: opts.maxClients,
      socketTimeout: opts.socketTimeoutMs,
      closeTimeout: 5_000,
      key: opts.tls.key,
      cert: opts.tls.cert,
      secure: listener.secure,
      authOptional: listener.authOptional,
      authMethods: ['PLAIN', 'LOGIN'],
      // smtp-server's own check is per server; ours is per connection (tls-auth-policy.ts)
      allowInsecureAuth: true,
      plainAuthAllowed: opts.plainAuthAllowed,
      greetingDelayMs: listener.greetingDelayMs,
      dataGate: gate,
      authRequiredMessage: '5.7.0 Authentication required',
      hideENHANCEDSTATUSCODES: false,
      // reverse DNS of every client costs a lookup per connection; the Received header uses the IP
      disableReverseLookup: true,
      logger: false,
      ...hooks,
    };
    const server = new SMTPServer(options);
    server.on('error', (err) => logger.error({ err }, 'smtp server error'));
    return server;
  };
  const servers: Record<ListenerName, SMTPServer> = {
    // mail from the internet needs no AUTH; a logged-in client may relay here too
    mx: make({ authOptional: true, secure: false, greetingDelayMs: opts.greetingDelayMs }),
    submission: make({ authOptional: false, secure: false, greetingDelayMs: 0 }),
    submissionTls: make({ authOptional: false, secure: true, greetingDelayMs: 0 }),
  };

  return {
    servers,
    server: servers.mx,
    summarize: (raw) => analyses.summarize(raw),
    async listen(ports, host) {
      const names = Object.keys(servers) as ListenerName[];
      const opened: ListenerName[] = [];
      const result = {} as ListenerPorts;
      try {
        for (const name of names) {
          result[name] = await listenOne(servers[name], ports[name], host);
          opened.push(name);
        }
      } catch (err) {
        await Promise.all(opened.map((name) => new Promise<void>((resolve) => servers[name].close(() => resolve()))));
        throw err;
      }
      return result;
    },
    async close() {
      await Promise.all(Object.values(servers).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      await analyses.close();
    },
  };
}
