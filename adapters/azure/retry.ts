import { MailError, isMailError } from '../../core/errors';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 6, baseMs: 50, maxMs: 2_000 };

const TRANSIENT_STATUS = new Set([408, 429, 449, 500, 502, 503, 504]);
const TRANSIENT_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET', 'REQUEST_SEND_ERROR']);

/** What an Azure SDK error says about itself: HTTP status (number `code` in @azure/cosmos, `statusCode` in storage), network code, retry hint. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

export function isTransient(err: unknown): boolean {
  if (isMailError(err)) return false;
  const status = statusOf(err);
  if (status !== undefined) return TRANSIENT_STATUS.has(status);
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && TRANSIENT_NETWORK.has(code);
}

function retryAfterMs(err: unknown): number | undefined {
  const e = err as { retryAfterInMs?: number; retryAfterInMilliseconds?: number };
  const hint = e?.retryAfterInMs ?? e?.retryAfterInMilliseconds;
  return typeof hint === 'number' && hint >= 0 ? hint : undefined;
}

/**
 * Runs `fn`, retrying throttling (429), unavailability (503 and the other 5xx of
 * DESIGN's list) and dropped connections with exponential backoff and jitter,
 * honouring the service's retry-after hint. Anything else fails at once. When the
 * attempts run out the caller gets `TemporaryFailure` (HTTP 503, SMTP 451): a
 * transient fault never becomes a permanent refusal.
 */
export async function withRetry<T>(what: string, fn: () => Promise<T>, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err)) throw err;
      if (attempt >= opts.attempts) {
        // the client sees the table's message; the cause (for logs) says what failed
        const cause = new Error(`${what}: still failing after ${attempt} attempts (${statusOf(err) ?? (err as { code?: string }).code ?? 'error'})`, { cause: err });
        throw new MailError('TemporaryFailure', undefined, { cause });
      }
      const backoff = Math.min(opts.maxMs, opts.baseMs * 2 ** (attempt - 1));
      const delay = Math.max(retryAfterMs(err) ?? 0, backoff / 2 + Math.random() * (backoff / 2));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
