/** The domain model shared by every adapter and host. */

export type Role = 'admin' | 'user';

/**
 * A hosted domain. `name` is the A-label form (IDN as `xn--…`), lower case, no
 * trailing dot; the API shows the U-label form beside it. The check fields say what
 * the last DNS check found and when the next one runs (core/domain-schedule.ts).
 */
export interface Domain extends DomainCheckState {
  name: string;
  createdAt: number;
  /** The key outbound mail from this domain is signed with; null until one is made. */
  dkim: DkimKey | null;
  /** SendGrid's domain authentication for this domain (when the outbound transport is SendGrid); null otherwise or until obtained. */
  sendgrid: SendgridDomainAuth | null;
}

/** pending: not yet seen right in DNS (up to 72 h); verified; failed: 72 h passed without it; degraded: was verified, DNS drifted. */
export type DomainStatus = 'pending' | 'verified' | 'failed' | 'degraded';
/** pending: not checked yet; ok; wrong: present but not as required; missing: absent; error: DNS trouble (timeout, SERVFAIL), retried. */
export type RecordStatus = 'pending' | 'ok' | 'wrong' | 'missing' | 'error';
export type RecordType = 'MX' | 'TXT' | 'CNAME' | 'A' | 'AAAA';
export type RecordPurpose = 'mx' | 'spf' | 'dkim' | 'dmarc' | 'mail-host' | 'sendgrid';

/** A DNS record the domain owner is told to publish. `host` and `value` are exact (A-labels, no trailing dot). */
export interface DnsRecordSpec {
  type: RecordType;
  host: string;
  value: string;
  purpose: RecordPurpose;
}

/** One record's result in a check: what was found and, in words a domain owner understands, what it means. */
export interface RecordCheck extends DnsRecordSpec {
  status: RecordStatus;
  /** The value(s) found, one per line; null when nothing was found. */
  found: string | null;
  explanation: string;
}

/** What the DNS checks keep on a domain (both stores persist it; next check times survive restarts). */
export interface DomainCheckState {
  status: DomainStatus;
  /** Why the domain is failed or degraded (the first failing record's sentence); null otherwise. */
  reason: string | null;
  /** The last check's per-record results; empty before the first check. */
  records: RecordCheck[];
  /** Checks since the status last changed (drives the backoff). */
  attempts: number;
  lastCheckedAt: number | null;
  nextCheckAt: number | null;
}

/** SendGrid's domain-authentication entry: the CNAME records it asks for, by its id. */
export interface SendgridDomainAuth {
  id: number;
  records: DnsRecordSpec[];
  /** Whether SendGrid itself has validated the records. */
  valid: boolean;
}

/** A domain's DKIM key pair. The private half never leaves the server: no API answer and no log line holds it. */
export interface DkimKey {
  /** The DNS selector: the public key is published as TXT at `<selector>._domainkey.<domain>`. */
  selector: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** Base64 of the DER SubjectPublicKeyInfo: the `p=` of the DNS record. */
  publicKey: string;
  createdAt: number;
}

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: number;
}

/** Only the store and the login path see the hash. */
export interface UserWithSecret extends User {
  passwordHash: string;
  tokenVersion: number;
}

/**
 * What every authenticated request checks: the user still exists, its tokens were
 * issued after the last password change (`tokenVersion`), and this token was not
 * signed out (`revokedTokenIds`, only those not yet expired).
 */
export interface UserSession extends User {
  tokenVersion: number;
  revokedTokenIds: string[];
}

export type SpecialUse = 'inbox' | 'sent' | 'drafts' | 'junk' | 'trash';

export const DEFAULT_MAILBOXES: ReadonlyArray<{ name: string; specialUse: SpecialUse }> = [
  { name: 'Inbox', specialUse: 'inbox' },
  { name: 'Sent', specialUse: 'sent' },
  { name: 'Drafts', specialUse: 'drafts' },
  { name: 'Junk', specialUse: 'junk' },
  { name: 'Trash', specialUse: 'trash' },
];

export interface Mailbox {
  id: string;
  userId: string;
  name: string;
  specialUse: SpecialUse | null;
  total: number;
  unread: number;
}

export interface AddressValue {
  address: string;
  name: string;
}

export interface AttachmentInfo {
  /** Stable within one message: the attachment's position in mailparser's order. */
  id: string;
  filename: string | null;
  contentType: string;
  size: number;
  contentId: string | null;
  inline: boolean;
}

/** A result word of RFC 8601 (`pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`, …). */
export type AuthResultWord = string;

/** Inbound authentication of one message (mailauth), as the API shows it, plus the DMARC policy that decides Junk. */
export interface AuthResults {
  spf: AuthResultWord;
  dkim: AuthResultWord;
  dmarc: AuthResultWord;
  arc: AuthResultWord;
  /** The policy the From domain asks for when DMARC fails (`none`, `quarantine`, `reject`); null without a DMARC record. Not shown by the API. */
  dmarcPolicy?: 'none' | 'quarantine' | 'reject' | null;
}

/** What the edge learns from the message while it streams in; travels in the queue message. */
export interface MessageSummary {
  from: AddressValue | null;
  to: AddressValue[];
  cc: AddressValue[];
  subject: string;
  /** The Date header as epoch ms, or null when missing or unparseable. */
  date: number | null;
  messageId: string | null;
  attachments: AttachmentInfo[];
  snippet: string;
  /** Set when mailparser could not read the message; the raw bytes are kept regardless. */
  parseError?: string;
  /**
   * Who else the header names as the author: every address of every From and Sender
   * field but the first From address (distinct, lower-case); absent when there are none.
   * Sending checks that every one is the user's.
   */
  otherSenders?: string[];
  /**
   * Set when the authors cannot all be checked: more than one From or Sender field (RFC
   * 5322 allows one of each; receivers read them differently) or more than
   * SUMMARY_LIMITS.addresses of them. Sending refuses such a message.
   */
  ambiguousAuthors?: true;
  /** The start of the body as plain text, for search; the store indexes it and does not keep it in the summary. */
  searchText?: string;
}

export interface Envelope {
  mailFrom: string;
  rcptTo: string[];
  remoteAddress: string;
  clientHostname: string;
  helo: string;
  authUser: string | null;
}

/** The claim-check queue message: small, the raw bytes stay in the BlobStore. */
export interface InboundQueueMessage {
  id: string;
  envelope: Envelope;
  rawBlobKey: string;
  size: number;
  receivedAt: number;
  summary: MessageSummary;
  auth: AuthResults | null;
  /**
   * Header fields this host added after the raw bytes were stored (the
   * Authentication-Results header, known only once the whole message has streamed
   * in); readers emit them before the blob's bytes. `size` counts them.
   */
  rawPrefix?: string | null;
}

/** One stored copy of a message in one user's mailbox. */
export interface StoredMessage {
  id: string;
  userId: string;
  mailboxId: string;
  inboundId: string;
  rawBlobKey: string;
  size: number;
  receivedAt: number;
  seen: boolean;
  flagged: boolean;
  summary: MessageSummary;
  auth: AuthResults | null;
  /** See InboundQueueMessage.rawPrefix: emitted before the blob's bytes by every reader of the raw message. */
  rawPrefix?: string | null;
  /** Sent copies only: where each recipient's delivery stands. */
  delivery?: DeliveryStatus[] | null;
}

/** One recipient of a sent message. */
export type DeliveryState = 'queued' | 'sent' | 'deferred' | 'failed' | 'held';

export interface DeliveryStatus {
  recipient: string;
  status: DeliveryState;
  /** Delivery attempts made so far (0 while queued). */
  attempts: number;
  /** Epoch ms of the next attempt, for a deferred recipient. */
  nextAttemptAt: number | null;
  /** The remote server's reply or the transport's error; null while nothing happened yet. */
  detail: string | null;
}

/**
 * One outbound queue message: the recipients of one foreign domain of one sent
 * message. The raw bytes stay in the BlobStore (claim check); the DKIM signature
 * made at submission travels with it and is put in front of them at delivery.
 */
export interface OutboundQueueMessage {
  /** The queue message id of this attempt (`<submission id>.<domain index>.<attempt>`). */
  id: string;
  /** The submission id, shared by all domains of one message. */
  submissionId: string;
  userId: string;
  /** The sender's copy in Sent, whose `delivery` is updated. */
  sentMessageId: string;
  /** MAIL FROM; empty for a bounce (never bounced again). */
  mailFrom: string;
  recipients: string[];
  rawBlobKey: string;
  dkimSignature: string | null;
  /** When the message was submitted: the lifetime counts from here. */
  submittedAt: number;
  /** Attempts made before this one. */
  attempts: number;
}

/** What the API lists: DESIGN's message summary. */
export interface MessageListItem {
  id: string;
  mailbox: string;
  from: AddressValue | null;
  to: AddressValue[];
  subject: string;
  date: string | null;
  receivedAt: string;
  size: number;
  seen: boolean;
  flagged: boolean;
  hasAttachments: boolean;
  snippet: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** What a draft says; composed into RFC 5322 (with the sender's own address) on every save. */
export interface DraftFields {
  to: AddressValue[];
  cc: AddressValue[];
  bcc: AddressValue[];
  subject: string;
  text: string;
  html: string | null;
  inReplyTo: string | null;
  /** The thread's Message-IDs, oldest first (a reply's References); In-Reply-To alone when absent. */
  references?: string[];
}

/** A file attached to a draft; its bytes are a blob of their own until the draft is sent. */
export interface DraftAttachment {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  blobKey: string;
}

export interface Draft {
  id: string;
  fields: DraftFields;
  attachments: DraftAttachment[];
  /** 1 when created, one more with every save: the ETag of the draft (compare-and-swap on saves). */
  version: number;
}
