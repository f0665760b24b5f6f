import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Configuration: environment variables, parsed and validated once at start-up.
 * The same names are the keys of local.settings.example.json.
 */
const port = z.coerce.number().int().min(0).max(65535);
const bytes = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** `192.0.2.1`, `192.0.2.1:5353`, `2001:db8::1` or `[2001:db8::1]:5353` (what node:dns setServers takes). */
function isDnsServer(value: string): boolean {
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/i.exec(value);
  if (bracketed) return isIP(bracketed[1]) === 6 && (!bracketed[2] || Number(bracketed[2]) <= 65535);
  const v4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(value);
  if (v4) return isIP(v4[1]) === 4 && (!v4[2] || Number(v4[2]) <= 65535);
  return isIP(value) === 6;
}

const connectionString = (mustHave: RegExp, what: string) => z.string().regex(mustHave, `a connection string with ${what}`);

/** One IPv4/IPv6 address or CIDR range (`10.0.0.0/8`, `::1/128`). */
const CIDR = /^(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(?:\/\d{1,3})?$/;
/** A comma-separated list of addresses and CIDR ranges; `none` for none (an empty variable means the default). */
const addressList = z
  .string()
  .transform((v) => (v.trim().toLowerCase() === 'none' ? [] : v.split(',').map((s) => s.trim()).filter(Boolean)))
  .refine((list) => list.every((item) => CIDR.test(item)), 'a comma-separated list of IP addresses or CIDR ranges (10.0.0.0/8, ::1/128)');

const settings = z.object({
  /** local: one process on SQLite and the data folder. azure: the Functions app and the SMTP edge container on Cosmos DB, Blob Storage and Service Bus. */
  NIMBUS_MODE: z.enum(['local', 'azure']).default('local'),
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
  /** The pause before the MX listener's greeting that catches clients talking too soon (spam bots); 0 greets at once (no check). The submission listeners greet at once. */
  NIMBUS_SMTP_GREETING_DELAY_MS: z.coerce.number().int().min(0).max(10_000).default(100),
  /** Sessions that receive a message at once; the others wait before their 354 (smtp-edge/data-gate.ts). 0 = no limit. */
  NIMBUS_SMTP_DATA_SLOTS: z.coerce.number().int().min(0).default(64),
  /** Raw messages up to this size are kept inside SQLite (one fsync with the batch), larger ones as files. */
  NIMBUS_BLOB_INLINE_MAX_BYTES: z.coerce.number().int().min(0).default(256 * 1024),
  NIMBUS_QUEUE_MAX_DELIVERIES: z.coerce.number().int().min(1).default(10),
  NIMBUS_QUEUE_LOCK_MS: z.coerce.number().int().min(100).default(60_000),
  NIMBUS_WORKER: bool.default(true),
  /** HS256 key for API tokens, at least 32 characters. Local mode makes and keeps one in the data folder when unset. */
  NIMBUS_JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  NIMBUS_JWT_TTL_SECONDS: z.coerce.number().int().min(60).default(12 * 3600),
  NIMBUS_HTTP_MAX_BODY_BYTES: bytes.default(1024 * 1024),
  /** Failed password checks allowed in 15 minutes before 429: per (account, client address) (tight), per account from all addresses (looser), per client address. */
  NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: z.coerce.number().int().min(1).default(5),
  NIMBUS_LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).default(50),
  NIMBUS_LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).default(20),
  /** How long a password that verified is remembered (core/auth.ts VerifiedPasswordCache); 0: bcrypt on every login. */
  NIMBUS_PASSWORD_CACHE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(3600),
  NIMBUS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Azure shape (NIMBUS_MODE=azure). Each service is reached either with a key / connection string (the emulators,
  // hand-made deployments) or with an endpoint and a Microsoft Entra token (managed identity, what infra/ deploys).
  /** Cosmos DB account endpoint; without NIMBUS_COSMOS_KEY the app signs in with DefaultAzureCredential. */
  NIMBUS_COSMOS_ENDPOINT: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }).optional(),
  NIMBUS_COSMOS_KEY: z.string().min(1).optional(),
  NIMBUS_COSMOS_DATABASE: z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'letters, digits, - and _').default('nimbus'),
  /** `UseDevelopmentStorage=true` is azurite on this machine, as every Azure tool reads it. */
  NIMBUS_BLOB_CONNECTION_STRING: connectionString(/(AccountName=|BlobEndpoint=|^UseDevelopmentStorage=true$)/i, 'AccountName= or BlobEndpoint= (or UseDevelopmentStorage=true)').optional(),
  /** The alternative to the connection string: https://<account>.blob.core.windows.net, with DefaultAzureCredential (tokens only travel over TLS). */
  NIMBUS_BLOB_ACCOUNT_URL: z.url({ protocol: /^https$/, error: 'an https URL (a token is never sent over plain HTTP)' }).optional(),
  NIMBUS_BLOB_CONTAINER: z.string().regex(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, 'a container name: 3-63 lower-case letters, digits and single hyphens').default('mail'),
  /** Used by the edge's sender and by the Functions trigger binding (connection: 'NIMBUS_SERVICEBUS_CONNECTION'). */
  NIMBUS_SERVICEBUS_CONNECTION: connectionString(/Endpoint=sb:\/\//i, 'Endpoint=sb://').optional(),
  /**
   * The identity-based form of the same connection (<namespace>.servicebus.windows.net): the app sends with
   * DefaultAzureCredential, and the Functions host reads it (with __credential and __clientId) for the trigger.
   */
  NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'a host name such as nimbus.servicebus.windows.net (no scheme, no path)').optional(),
  /** Read by the Functions host: 'managedidentity' makes the trigger use a managed identity. */
  NIMBUS_SERVICEBUS_CONNECTION__credential: z.enum(['managedidentity']).optional(),
  /** Read by the Functions host: the client id of the user-assigned identity the trigger uses. */
  NIMBUS_SERVICEBUS_CONNECTION__clientId: z.guid('a client id (GUID)').optional(),
  NIMBUS_SERVICEBUS_QUEUE: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$/, 'a queue name').default('inbound'),
  /** How long the SMTP edge remembers a directory lookup (Azure shape). */
  NIMBUS_DIRECTORY_CACHE_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  // hardening: who is trusted, who may set up, how long a client may take
  /** First-run setup from anywhere needs this code (required in azure mode; locally a one-time code is printed at start). */
  NIMBUS_SETUP_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** Reverse proxies whose X-Forwarded-For is believed (the client address is the last entry they did not add). */
  NIMBUS_TRUSTED_PROXIES: addressList.default([]),
  /** Clients exempt from the per-address SMTP connection limit, as Postfix exempts $mynetworks. */
  NIMBUS_TRUSTED_NETWORKS: addressList.default(['127.0.0.0/8', '::1/128']),
  /** How long an HTTP client may take to send its headers, and its whole request (body included). */
  NIMBUS_HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1000).default(10_000),
  NIMBUS_HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1000).default(120_000),
  /** The user-assigned managed identity DefaultAzureCredential signs in as (unset: the system-assigned one, or your `az login` on a workstation). */
  AZURE_CLIENT_ID: z.guid('a client id (GUID)').optional(),
  // Orphan sweeper (hardening, issue 12): blobs that no record and no live queue message refers to
  /** Blobs younger than this are never removed (their reference may be on its way); at least an hour. */
  NIMBUS_ORPHAN_GRACE_HOURS: z.coerce.number().min(1).max(24 * 365).default(24),
  /** How often the sweeper runs (local: in the process; azure: the timer function); 0: never. */
  NIMBUS_SWEEP_INTERVAL_MINUTES: z.coerce.number().min(0).max(7 * 24 * 60).default(60),
  /** Find and log orphans, remove nothing. */
  NIMBUS_SWEEP_DRY_RUN: bool.default(false),
  // Domains (issue 9): DNS checks and inbound authentication
  /** true: a DMARC failure under p=reject is refused with 550 5.7.1 at the end of DATA; false: it is filed into Junk (p=quarantine always goes to Junk). */
  NIMBUS_DMARC_REJECT: bool.default(false),
  /** How long one DNS query may take (per server) before it counts as a timeout (temperror / "will retry"). */
  NIMBUS_DNS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  /** DNS servers to ask instead of the system's (comma list of IP or IP:port; [v6]:port). */
  NIMBUS_DNS_SERVERS: z.string().trim().refine((v) => v.split(',').every((s) => isDnsServer(s.trim())), 'a comma list of IP addresses, each optionally with :port').optional(),

  // ---- sending (issue 8): submission listeners, TLS, outbound transport, retries, limits ----
  /** Submission with STARTTLS (mail clients); AUTH required. */
  NIMBUS_SUBMISSION_PORT: port.default(2587),
  /** Submission with implicit TLS (port 465 style); AUTH required. */
  NIMBUS_SUBMISSION_TLS_PORT: port.default(2465),
  /** PEM certificate (chain) and key for STARTTLS and implicit TLS; locally a self-signed pair is made in the data folder when unset. */
  NIMBUS_TLS_CERT_FILE: z.string().min(1).optional(),
  NIMBUS_TLS_KEY_FILE: z.string().min(1).optional(),
  /** Allow AUTH without TLS from any client (NIMBUS_TRUSTED_NETWORKS may always). */
  NIMBUS_SMTP_ALLOW_INSECURE_AUTH: bool.default(false),
  /** How foreign recipients are reached: none (held), smtp (a relay), sendgrid (the v3 API). */
  NIMBUS_OUTBOUND_TRANSPORT: z.enum(['none', 'smtp', 'sendgrid']).default('none'),
  NIMBUS_RELAY_HOST: z.string().min(1).optional(),
  NIMBUS_RELAY_PORT: port.default(587),
  /** true: implicit TLS (usually port 465); false: STARTTLS, required when a user is set. */
  NIMBUS_RELAY_SECURE: bool.default(false),
  NIMBUS_RELAY_USER: z.string().min(1).optional(),
  NIMBUS_RELAY_PASSWORD: z.string().min(1).optional(),
  /** Connect, greeting and idle timeout towards the relay. */
  NIMBUS_RELAY_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** Parallel connections to the relay (the SMTP transport's pool); mind the relay's own per-client limit. */
  NIMBUS_RELAY_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(200).default(20),
  NIMBUS_SENDGRID_API_KEY: z.string().min(1).optional(),
  NIMBUS_SENDGRID_BASE_URL: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }).default('https://api.sendgrid.com'),
  /** The Service Bus queue of outbound deliveries (Azure shape). */
  NIMBUS_SERVICEBUS_OUTBOUND_QUEUE: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$/, 'a queue name').default('outbound'),
  /** How long a message is retried before it bounces. */
  NIMBUS_OUTBOUND_LIFETIME_HOURS: z.coerce.number().positive().max(24 * 30).default(72),
  /** Waits between delivery attempts, in seconds; the last one repeats until the lifetime ends. */
  NIMBUS_OUTBOUND_RETRY_SCHEDULE: z
    .string()
    .regex(/^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$/, 'a comma list of seconds, e.g. 60,300,900,3600,10800')
    .transform((v) => v.split(',').map((s) => Math.round(Number(s) * 1000)))
    .refine((list) => list.every((ms) => ms > 0), 'every wait must be above 0')
    .default([60_000, 300_000, 900_000, 3_600_000, 10_800_000]),
  /** Messages one user may send per hour (API and SMTP together, per process); 0 = no limit. */
  NIMBUS_SEND_MAX_PER_HOUR: z.coerce.number().int().min(0).default(500),
});

type Settings = z.infer<typeof settings>;

/**
 * How each Azure service is reached in azure mode: exactly one complete form. A
 * missing service, both forms at once, or half of the identity form is refused,
 * naming the setting.
 */
function checkAzureConnections(config: Settings, problem: (variable: keyof Settings, message: string) => void): void {
  if (config.NIMBUS_COSMOS_ENDPOINT === undefined) {
    problem('NIMBUS_COSMOS_ENDPOINT', 'required when NIMBUS_MODE=azure (with NIMBUS_COSMOS_KEY, or alone to sign in with a managed identity)');
  }
  const blobForms = [config.NIMBUS_BLOB_CONNECTION_STRING, config.NIMBUS_BLOB_ACCOUNT_URL].filter((v) => v !== undefined).length;
  if (blobForms === 0) problem('NIMBUS_BLOB_CONNECTION_STRING', 'required when NIMBUS_MODE=azure (or NIMBUS_BLOB_ACCOUNT_URL with a managed identity)');
  if (blobForms === 2) problem('NIMBUS_BLOB_ACCOUNT_URL', 'set either NIMBUS_BLOB_CONNECTION_STRING or NIMBUS_BLOB_ACCOUNT_URL, not both');
  const namespace = config.NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace;
  if (config.NIMBUS_SERVICEBUS_CONNECTION === undefined && namespace === undefined) {
    problem('NIMBUS_SERVICEBUS_CONNECTION', 'required when NIMBUS_MODE=azure (or NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace with a managed identity)');
  }
  if (config.NIMBUS_SERVICEBUS_CONNECTION !== undefined && namespace !== undefined) {
    problem('NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace', 'set either NIMBUS_SERVICEBUS_CONNECTION or NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace, not both');
  }
  const credential = config.NIMBUS_SERVICEBUS_CONNECTION__credential;
  const clientId = config.NIMBUS_SERVICEBUS_CONNECTION__clientId;
  if (namespace === undefined && (credential !== undefined || clientId !== undefined)) {
    problem('NIMBUS_SERVICEBUS_CONNECTION__fullyQualifiedNamespace', 'required with NIMBUS_SERVICEBUS_CONNECTION__credential / __clientId (the identity-based connection is incomplete)');
  }
  if (clientId !== undefined && credential === undefined) {
    problem('NIMBUS_SERVICEBUS_CONNECTION__credential', "must be 'managedidentity' when NIMBUS_SERVICEBUS_CONNECTION__clientId is set (the Functions host ignores the client id otherwise)");
  }
  if (clientId !== undefined && config.AZURE_CLIENT_ID !== undefined && clientId.toLowerCase() !== config.AZURE_CLIENT_ID.toLowerCase()) {
    problem('NIMBUS_SERVICEBUS_CONNECTION__clientId', 'differs from AZURE_CLIENT_ID: the queue trigger and the app would sign in as different identities');
  }
}

/** Settings that azure mode needs in one form only (the services' connections are checked above). */
const REQUIRED_IN_AZURE = ['NIMBUS_JWT_SECRET', 'NIMBUS_SETUP_TOKEN'] as const;

export const configSchema = settings.superRefine((config, ctx) => {
  const problem = (variable: string, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
  checkSendingSettings(config, problem);
  if (config.NIMBUS_MODE !== 'azure') return;
  checkAzureConnections(config, problem);
  for (const key of REQUIRED_IN_AZURE) if (config[key] === undefined) problem(key, 'required when NIMBUS_MODE=azure');
});

/** Sending's settings that only make sense together (issue 8). */
function checkSendingSettings(config: Settings, problem: (variable: keyof Settings, message: string) => void): void {
  if (Boolean(config.NIMBUS_TLS_CERT_FILE) !== Boolean(config.NIMBUS_TLS_KEY_FILE)) problem(config.NIMBUS_TLS_CERT_FILE ? 'NIMBUS_TLS_KEY_FILE' : 'NIMBUS_TLS_CERT_FILE', 'set both NIMBUS_TLS_CERT_FILE and NIMBUS_TLS_KEY_FILE, or neither');
  if (config.NIMBUS_OUTBOUND_TRANSPORT === 'smtp' && !config.NIMBUS_RELAY_HOST) problem('NIMBUS_RELAY_HOST', 'required when NIMBUS_OUTBOUND_TRANSPORT=smtp');
  if (Boolean(config.NIMBUS_RELAY_USER) !== Boolean(config.NIMBUS_RELAY_PASSWORD)) problem(config.NIMBUS_RELAY_USER ? 'NIMBUS_RELAY_PASSWORD' : 'NIMBUS_RELAY_USER', 'set both NIMBUS_RELAY_USER and NIMBUS_RELAY_PASSWORD, or neither');
  if (config.NIMBUS_OUTBOUND_TRANSPORT === 'sendgrid' && !config.NIMBUS_SENDGRID_API_KEY) problem('NIMBUS_SENDGRID_API_KEY', 'required when NIMBUS_OUTBOUND_TRANSPORT=sendgrid');
}

export type Config = z.infer<typeof configSchema>;
/** Every setting's name: the keys of local.settings.example.json. */
export const SETTING_NAMES = Object.keys(settings.shape) as Array<keyof Config>;

/**
 * App settings that the Functions host and the Azure platform read, never this code.
 * local.settings.example.json and the Function App in infra/ may set them beside SETTING_NAMES.
 */
export const HOST_SETTINGS: ReadonlyArray<string> = [
  'FUNCTIONS_WORKER_RUNTIME',
  'AzureWebJobsStorage',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
];

/** Settings whose values are never printed or logged. */
export const SECRET_SETTINGS: ReadonlyArray<keyof Config> = ['NIMBUS_JWT_SECRET', 'NIMBUS_COSMOS_KEY', 'NIMBUS_BLOB_CONNECTION_STRING', 'NIMBUS_SERVICEBUS_CONNECTION', 'NIMBUS_SETUP_TOKEN', 'NIMBUS_RELAY_PASSWORD', 'NIMBUS_SENDGRID_API_KEY'];
const SECRET_KEYS = new Set<keyof Config>(SECRET_SETTINGS);

export class ConfigError extends Error {
  constructor(readonly problems: Array<{ variable: string; problem: string }>) {
    super('Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(settings.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const variable = String(issue.path[0] ?? '?');
        return { variable, problem: describeProblem(issue, input[variable], SECRET_KEYS.has(variable as keyof Config)) };
      }),
    );
  }
  return parsed.data;
}

/** What was typed (unless secret) and what is expected, in words: `"abc" is not a whole number from 0 to 65535`. */
function describeProblem(issue: z.core.$ZodIssue, typed: string | undefined, secret: boolean): string {
  let expected: string;
  switch (issue.code) {
    case 'invalid_type':
      expected = issue.expected === 'number' ? 'a number' : `a ${issue.expected}`;
      break;
    case 'too_small':
      expected = issue.origin === 'string' ? `at least ${issue.minimum} characters` : `a number of at least ${issue.minimum}`;
      break;
    case 'too_big':
      expected = issue.origin === 'string' ? `at most ${issue.maximum} characters` : `a number of at most ${issue.maximum}`;
      break;
    case 'invalid_value':
      expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    default:
      expected = issue.message;
  }
  if (issue.code === 'custom') return issue.message; // cross-setting rules (required in azure mode, one form only) say it all
  if (typed === undefined) return `missing; expected ${expected}`;
  return secret ? `the value given is not valid; expected ${expected}` : `${JSON.stringify(typed)} is not valid; expected ${expected}`;
}

/** The effective configuration with secrets masked, for `npm run config` and start-up logs. */
export function maskedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key] = SECRET_KEYS.has(key as keyof Config) && value !== undefined ? '********' : value;
  }
  return out;
}
