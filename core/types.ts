/** The domain model shared by every adapter and host. */

export type Role = 'admin' | 'user';

export interface Domain {
  name: string;
  createdAt: number;
  /** The key outbound mail from this domain is signed with; null until one is made. */
  dkim: DkimKey | null;
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

export interface AuthResults {
  spf: string;
  dkim: string;
  dmarc: string;
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
