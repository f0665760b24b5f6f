import { hostname as osHostname } from 'node:os';
import { SendgridDomainAuthClient } from '../adapters/sendgrid/sendgrid-domain-auth';
import { createTokenService, VerifiedPasswordCache, type PasswordHasher, type TokenService } from '../core/auth';
import { DomainService } from '../core/domains';
import type { Config } from '../core/config';
import type { Logger } from '../core/logger';
import { OrphanSweeper, blobReferenceSources } from '../core/orphans';
import type { DkimSigner } from '../core/dkim';
import type { DeliverDeps, OutboundPolicy, SubmitDeps } from '../core/outbound';
import type { BlobStore, Directory, DnsResolver, LoginCounter, MailStore, OutboundTransport, QueueBrowser, QueueSender, SendCounter } from '../core/ports';
import { LoginGuard, loginGuardFromConfig, sendLimitFromConfig, type SendLimit } from '../core/rate-limit';
import type { InboundQueueMessage, MessageSummary, OutboundQueueMessage } from '../core/types';

/**
 * Everything a handler may use, built once at start-up by the host (local/ or the
 * Functions composition). Handlers never ask which shape they run in.
 */
export interface AppContext {
  store: MailStore;
  blobs: BlobStore;
  queue: QueueSender<InboundQueueMessage>;
  tokens: TokenService;
  passwords: PasswordHasher;
  logger: Logger;
  limits: { maxJsonBytes: number; maxAttachmentBytes: number; maxMessageBytes: number };
  /** Every password check (login, password change, SMTP AUTH) goes through it: 429 with Retry-After once over. */
  loginGuard: LoginGuard;
  /**
   * Who may run first-run setup: anyone presenting `code` (the one-time code the local
   * host prints, or NIMBUS_SETUP_TOKEN in the Azure shape), and clients on this
   * machine when `fromLoopback` (local shape only).
   */
  setup: { code: string | null; fromLoopback: boolean };
  /** Removes blobs nothing refers to: at once after a delete (release), and in periodic sweeps. */
  orphans: OrphanSweeper;
  /** Hosted domains: creation, DNS records to publish, DNS checks (routes, the local scheduler and the Durable activity). */
  domains: DomainService;
  /** Sending: the outbound queue, the hourly limit per sender (shared with SMTP submission: in one process, or in `sendCounter`), the transport (its health; the worker/trigger sends). */
  sending: {
    outboundQueue: QueueSender<OutboundQueueMessage>;
    sendLimiter: SendLimit;
    transport: OutboundTransport;
    policy: OutboundPolicy;
    hostname: string;
    maxRecipients: number;
    /** DKIM signatures: on a thread in the local host, in the calling thread otherwise. */
    dkimSigner?: DkimSigner;
    /** The summary of a message the API composed: on the analysis thread in the local host, in the calling thread otherwise. */
    summarizer?: (raw: Buffer) => Promise<MessageSummary>;
    /** Where the send path looks domains up (SubmitDeps.domainLookups): the store unless the host remembers them (Azure). */
    domainLookups?: Pick<MailStore, 'getDomain'>;
  };
}

/** The retry schedule and lifetime from the settings. */
export function outboundPolicy(config: Config): OutboundPolicy {
  return { scheduleMs: config.NIMBUS_OUTBOUND_RETRY_SCHEDULE, lifetimeMs: config.NIMBUS_OUTBOUND_LIFETIME_HOURS * 3_600_000 };
}

/** Assembles the context from adapters a host has chosen; the limits come from the config. */
export function createAppContext(
  config: Config,
  parts: Pick<AppContext, 'store' | 'blobs' | 'queue' | 'passwords' | 'logger' | 'setup'> & {
    jwtSecret: string;
    inboundBrowser: QueueBrowser<InboundQueueMessage>;
    resolver: DnsResolver;
    now?: () => number;
    outboundQueue: QueueSender<OutboundQueueMessage>;
    outboundBrowser: QueueBrowser<OutboundQueueMessage>;
    transport: OutboundTransport;
    dkimSigner?: DkimSigner;
    summarizer?: (raw: Buffer) => Promise<MessageSummary>;
    /** Where the hourly send limit counts when the host runs as several processes (Azure: Cosmos DB); in memory without. */
    sendCounter?: SendCounter;
    /** Where the per-account login limit counts then (the same store); in memory without. */
    loginCounter?: LoginCounter;
    /** The directory remembered (Azure: Cosmos DB is across the network): the send path looks domains up there; the store without. */
    directory?: Directory;
  },
): AppContext {
  const { jwtSecret, inboundBrowser, resolver, now, outboundQueue, outboundBrowser, transport, dkimSigner, summarizer, sendCounter, loginCounter, directory, ...adapters } = parts;
  const sendgrid = config.NIMBUS_OUTBOUND_TRANSPORT === 'sendgrid';
  return {
    ...adapters,
    passwords: new VerifiedPasswordCache(adapters.passwords, config.NIMBUS_PASSWORD_CACHE_SECONDS * 1000),
    orphans: new OrphanSweeper(
      { store: parts.store, blobs: parts.blobs, sources: blobReferenceSources({ inbound: inboundBrowser, outbound: outboundBrowser }), logger: parts.logger.child({ component: 'orphans' }) },
      { graceMs: config.NIMBUS_ORPHAN_GRACE_HOURS * 3_600_000, dryRun: config.NIMBUS_SWEEP_DRY_RUN },
    ),
    tokens: createTokenService(jwtSecret, config.NIMBUS_JWT_TTL_SECONDS),
    limits: { maxJsonBytes: config.NIMBUS_HTTP_MAX_BODY_BYTES, maxAttachmentBytes: config.NIMBUS_MAX_ATTACHMENT_BYTES, maxMessageBytes: config.NIMBUS_MAX_MESSAGE_BYTES },
    loginGuard: loginGuardFromConfig(config, loginCounter),
    sending: {
      outboundQueue,
      transport,
      sendLimiter: sendLimitFromConfig(config, sendCounter),
      policy: outboundPolicy(config),
      hostname: config.NIMBUS_HOSTNAME ?? osHostname(),
      maxRecipients: config.NIMBUS_MAX_RECIPIENTS,
      dkimSigner,
      summarizer,
      domainLookups: directory,
    },
    domains: new DomainService({
      store: adapters.store,
      resolver,
      settings: { mailHost: config.NIMBUS_HOSTNAME ?? osHostname(), sendgrid },
      domainAuth: sendgrid && config.NIMBUS_SENDGRID_API_KEY ? new SendgridDomainAuthClient({ baseUrl: config.NIMBUS_SENDGRID_BASE_URL, apiKey: config.NIMBUS_SENDGRID_API_KEY }) : null,
      logger: adapters.logger.child({ component: 'domains' }),
      now,
    }),
  };
}

/** What core/outbound.ts needs to take a message in (the API's send, SMTP submission). */
export function submitDeps(app: AppContext): SubmitDeps {
  const { outboundQueue, sendLimiter, dkimSigner, summarizer, domainLookups } = app.sending;
  return { store: app.store, blobs: app.blobs, logger: app.logger, inboundQueue: app.queue, outboundQueue, sendLimiter, dkimSigner, summarizer, domainLookups };
}

/** What core/outbound.ts needs to deliver (the local worker, the Azure trigger). */
export function deliverDeps(app: AppContext): DeliverDeps {
  const { transport, outboundQueue, policy, hostname } = app.sending;
  return { store: app.store, blobs: app.blobs, logger: app.logger.child({ component: 'outbound' }), transport, outboundQueue, policy, hostname };
}
