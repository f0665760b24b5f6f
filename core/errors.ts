/**
 * One error type for every protocol. Each code maps to an SMTP reply code with its
 * RFC 3463 enhanced status code, and to an HTTP status. Temporary faults are always
 * 4xx on SMTP: a sender retries a 4xx, while a 5xx makes it bounce mail we could
 * have taken a minute later.
 */
export interface ErrorSpec {
  smtp: number;
  enhanced: string;
  http: number;
  transient: boolean;
  message: string;
}

export const ERROR_TABLE = {
  MailboxUnknown: { smtp: 550, enhanced: '5.1.1', http: 404, transient: false, message: 'No such user here' },
  RelayDenied: { smtp: 554, enhanced: '5.7.1', http: 403, transient: false, message: 'Relay access denied' },
  DmarcRejected: { smtp: 550, enhanced: '5.7.1', http: 403, transient: false, message: "Message rejected: it fails DMARC and the sender domain's policy is reject" },
  BadRecipientAddress: { smtp: 553, enhanced: '5.1.3', http: 400, transient: false, message: 'Bad recipient address syntax' },
  BadSenderAddress: { smtp: 553, enhanced: '5.1.7', http: 400, transient: false, message: 'Bad sender address syntax' },
  MessageTooBig: { smtp: 552, enhanced: '5.3.4', http: 413, transient: false, message: 'Message size exceeds fixed maximum message size' },
  TooManyRecipients: { smtp: 452, enhanced: '4.5.3', http: 400, transient: true, message: 'Too many recipients' },
  TemporaryFailure: { smtp: 451, enhanced: '4.3.0', http: 503, transient: true, message: 'Temporary local problem, please try again later' },
  InvalidCredentials: { smtp: 535, enhanced: '5.7.8', http: 401, transient: false, message: 'Invalid email or password' },
  Unauthenticated: { smtp: 530, enhanced: '5.7.0', http: 401, transient: false, message: 'Authentication required' },
  Forbidden: { smtp: 550, enhanced: '5.7.1', http: 403, transient: false, message: 'Not allowed' },
  NotFound: { smtp: 550, enhanced: '5.1.1', http: 404, transient: false, message: 'Not found' },
  ValidationFailed: { smtp: 501, enhanced: '5.5.4', http: 400, transient: false, message: 'Invalid input' },
  MalformedJson: { smtp: 501, enhanced: '5.5.4', http: 400, transient: false, message: 'Request body is not valid JSON' },
  InvalidCursor: { smtp: 501, enhanced: '5.5.4', http: 400, transient: false, message: 'Invalid cursor' },
  AlreadySetUp: { smtp: 550, enhanced: '5.7.1', http: 409, transient: false, message: 'Setup has already been done' },
  SetupNotAllowed: { smtp: 550, enhanced: '5.7.1', http: 403, transient: false, message: 'Setup is accepted only from this machine or with the setup code' },
  LastAdmin: { smtp: 550, enhanced: '5.7.1', http: 409, transient: false, message: 'The last administrator cannot be deleted' },
  Conflict: { smtp: 550, enhanced: '5.7.1', http: 409, transient: false, message: 'Already exists' },
  PreconditionFailed: { smtp: 550, enhanced: '5.7.1', http: 412, transient: false, message: 'Changed meanwhile: load it again, then retry' },
  MailboxNotEmpty: { smtp: 550, enhanced: '5.7.1', http: 409, transient: false, message: 'Folder is not empty' },
  SpecialMailbox: { smtp: 550, enhanced: '5.7.1', http: 403, transient: false, message: 'The standard folders cannot be renamed or deleted' },
  DomainNotHosted: { smtp: 550, enhanced: '5.7.1', http: 400, transient: false, message: 'Domain is not hosted here' },
  MethodNotAllowed: { smtp: 502, enhanced: '5.5.1', http: 405, transient: false, message: 'Method not allowed' },
  PayloadTooLarge: { smtp: 552, enhanced: '5.3.4', http: 413, transient: false, message: 'Request body too large' },
  RateLimited: { smtp: 421, enhanced: '4.7.0', http: 429, transient: true, message: 'Too many failed attempts; try again later' },
  Internal: { smtp: 451, enhanced: '4.3.0', http: 500, transient: true, message: 'Internal error' },
  // sending (submission and the send API)
  SenderNotOwned: { smtp: 553, enhanced: '5.7.1', http: 403, transient: false, message: 'Sender address is not yours' },
  EncryptionRequired: { smtp: 538, enhanced: '5.7.11', http: 403, transient: false, message: 'Encryption required: use STARTTLS (or port 465) before AUTH' },
  SendRateLimited: { smtp: 451, enhanced: '4.7.1', http: 429, transient: true, message: 'Too many messages sent in the last hour; try again later' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/**
 * What a failed write is known to have done: `not-done` when it surely took no
 * effect (refused before or by the service, rolled back), `unknown` when it may have
 * (a timeout or a dropped connection after the request went out). An error that
 * does not say is unknown: a caller that undoes work on failure (the SMTP edge
 * removing the blob of a message it could not queue) does so only on `not-done`.
 */
export type WriteOutcome = 'not-done' | 'unknown';

export class MailError extends Error {
  readonly code: ErrorCode;
  readonly spec: ErrorSpec;
  /** Extra, client-safe detail (e.g. the field that failed validation). */
  readonly details?: Record<string, unknown>;
  /** For a failed write: whether it may have taken effect (see WriteOutcome); never shown to clients. */
  readonly outcome?: WriteOutcome;

  constructor(code: ErrorCode, message?: string, opts?: { cause?: unknown; details?: Record<string, unknown>; outcome?: WriteOutcome }) {
    super(message ?? ERROR_TABLE[code].message, opts?.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'MailError';
    this.code = code;
    this.spec = ERROR_TABLE[code];
    this.details = opts?.details;
    this.outcome = opts?.outcome;
  }

  get smtp(): number {
    return this.spec.smtp;
  }
  get enhanced(): string {
    return this.spec.enhanced;
  }
  get http(): number {
    return this.spec.http;
  }
  get transient(): boolean {
    return this.spec.transient;
  }
}

export function isMailError(err: unknown): err is MailError {
  return err instanceof MailError;
}

/** True only when the failed write says it surely took no effect. */
export function surelyNotDone(err: unknown): boolean {
  return isMailError(err) && err.outcome === 'not-done';
}

/** Any unknown failure becomes a transient one: we would rather be retried than bounce. */
export function toMailError(err: unknown): MailError {
  if (isMailError(err)) return err;
  return new MailError('TemporaryFailure', undefined, { cause: err });
}
