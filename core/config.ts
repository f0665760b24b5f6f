import { z } from 'zod';

/**
 * Configuration: environment variables, parsed and validated once at start-up.
 * The same names are the keys of local.settings.example.json.
 */
const port = z.coerce.number().int().min(0).max(65535);
const bytes = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const configSchema = z.object({
  NIMBUS_MODE: z.enum(['local']).default('local'),
  NIMBUS_DATA_DIR: z.string().min(1).default('./data'),
  NIMBUS_HOSTNAME: z.string().min(1).regex(/^[a-zA-Z0-9.-]+$/, 'a host name').optional(),
  NIMBUS_SMTP_HOST: z.string().min(1).default('127.0.0.1'),
  NIMBUS_SMTP_PORT: port.default(2525),
  NIMBUS_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  NIMBUS_HTTP_PORT: port.default(3000),
  NIMBUS_MAX_MESSAGE_BYTES: bytes.default(25 * 1024 * 1024),
  /** Largest single file attached to a draft; all of a draft's files together stay under 3/4 of NIMBUS_MAX_MESSAGE_BYTES (base64). */
  NIMBUS_MAX_ATTACHMENT_BYTES: bytes.default(10 * 1024 * 1024),
  NIMBUS_MAX_RECIPIENTS: z.coerce.number().int().min(1).max(10000).default(100),
  NIMBUS_SMTP_MAX_CLIENTS: z.coerce.number().int().min(1).default(2000),
  /** Open SMTP connections per client address (0 = no limit); more get 421. */
  NIMBUS_SMTP_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(0).default(50),
  NIMBUS_SMTP_SOCKET_TIMEOUT_MS: z.coerce.number().int().min(1000).default(60_000),
  /** Raw messages up to this size are kept inside SQLite (one fsync with the batch), larger ones as files. */
  NIMBUS_BLOB_INLINE_MAX_BYTES: z.coerce.number().int().min(0).default(256 * 1024),
  NIMBUS_QUEUE_MAX_DELIVERIES: z.coerce.number().int().min(1).default(10),
  NIMBUS_QUEUE_LOCK_MS: z.coerce.number().int().min(100).default(60_000),
  NIMBUS_WORKER: bool.default(true),
  /** HS256 key for API tokens, at least 32 characters. Local mode makes and keeps one in the data folder when unset. */
  NIMBUS_JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  NIMBUS_JWT_TTL_SECONDS: z.coerce.number().int().min(60).default(12 * 3600),
  NIMBUS_HTTP_MAX_BODY_BYTES: bytes.default(1024 * 1024),
  /** Failed logins allowed in 15 minutes before 429: per account, and per client address. */
  NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).default(5),
  NIMBUS_LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).default(20),
  NIMBUS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof configSchema>;

const SECRET_KEYS = new Set<keyof Config>(['NIMBUS_JWT_SECRET']);

export class ConfigError extends Error {
  constructor(readonly problems: Array<{ variable: string; problem: string }>) {
    super('Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '?'), problem: issue.message })),
    );
  }
  return parsed.data;
}

/** The effective configuration with secrets masked, for `npm run config` and start-up logs. */
export function maskedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key] = SECRET_KEYS.has(key as keyof Config) && value !== undefined ? '********' : value;
  }
  return out;
}
