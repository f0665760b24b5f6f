import type { PasswordHasher, TokenService } from '../core/auth';
import type { FailureLimiter } from '../core/rate-limit';
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
  /** Failed logins per account and per client address (429 with Retry-After once over). */
  loginFailures: { account: FailureLimiter; ip: FailureLimiter };
}
