import { createTokenService, type PasswordHasher, type TokenService } from '../core/auth';
import type { Config } from '../core/config';
import { LoginGuard } from '../core/rate-limit';
import type { Logger } from '../core/logger';
import type { BlobStore, MailStore, QueueSender } from '../core/ports';
import type { InboundQueueMessage } from '../core/types';

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
}

/** Assembles the context from adapters a host has chosen; the limits come from the config. */
export function createAppContext(
  config: Config,
  parts: Pick<AppContext, 'store' | 'blobs' | 'queue' | 'passwords' | 'logger' | 'setup'> & { jwtSecret: string },
): AppContext {
  const { jwtSecret, ...adapters } = parts;
  return {
    ...adapters,
    tokens: createTokenService(jwtSecret, config.NIMBUS_JWT_TTL_SECONDS),
    limits: { maxJsonBytes: config.NIMBUS_HTTP_MAX_BODY_BYTES, maxAttachmentBytes: config.NIMBUS_MAX_ATTACHMENT_BYTES, maxMessageBytes: config.NIMBUS_MAX_MESSAGE_BYTES },
    loginGuard: new LoginGuard({
      perAccountAndAddress: config.NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS,
      perAccount: config.NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT,
      perAddress: config.NIMBUS_LOGIN_MAX_FAILURES_PER_IP,
      windowMs: 15 * 60_000,
    }),
  };
}
