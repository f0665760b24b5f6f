/**
 * What the API answers. Requests (paths, query parameters, bodies) are typed by
 * `openapi.gen.ts`, generated from the server's OpenAPI document. The document names
 * no response schemas, so the answers are typed here from the server's own domain
 * types (`core/types.ts`, imported as types only: nothing of the server is bundled),
 * so a change there breaks the webmail's type check instead of drifting silently.
 * The shapes of routes that other branches are adding (sending, domains) follow
 * the project's cross-branch agreements and are marked as such.
 */
import type { AddressValue, AttachmentInfo, DraftFields, Mailbox as StoredMailbox, MessageListItem, Page, User as StoredUser } from '../../../core/types';

export type { AddressValue, AttachmentInfo, MessageListItem, Page };
export type Mailbox = Omit<StoredMailbox, 'userId'>;
export type User = StoredUser & { aliases: string[] };
export type Session = { token: string; expiresAt: string; user: StoredUser };

/** A file on a draft (`DraftAttachment` without its storage key). */
export interface DraftFile {
  id: string;
  filename: string;
  contentType: string;
  size: number;
}

/** POST/PUT /api/mails and the draft attachment routes. */
export type DraftView = MessageListItem & { draft: DraftFields; attachments: DraftFile[] };

/** One auth result word per method (issue 9 adds arc and allows null). */
export type AuthWord = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror' | 'policy' | string;
export interface AuthView {
  spf: AuthWord | null;
  dkim: AuthWord | null;
  dmarc: AuthWord | null;
  arc?: AuthWord | null;
}

/** Per-recipient delivery of a sent message (functions/http/send-kit.ts deliveryView). */
export interface DeliveryStatus {
  recipient: string;
  status: 'queued' | 'sent' | 'deferred' | 'failed' | 'held';
  attempts: number;
  nextAttemptAt: string | null;
  detail: string | null;
}

/** GET /api/mails/{id}. */
export type MessageView = MessageListItem & {
  cc: AddressValue[];
  replyTo: AddressValue[];
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  headers: Array<{ name: string; value: string }>;
  text: string | null;
  html: string | null;
  attachments: AttachmentInfo[];
  /** The text or HTML shown is the start of a longer part (the original has it whole). */
  textTruncated?: boolean;
  htmlTruncated?: boolean;
  /** Set when the message could not be read as MIME (its raw bytes are kept). */
  parseError?: string;
  auth: AuthView | null;
  /** Drafts only: the fields it is composed from, and its files (with the ids the attachment routes take). */
  draft?: DraftFields;
  draftAttachments?: DraftFile[];
  /** Sent messages: each recipient's delivery. */
  delivery?: DeliveryStatus[];
};

/** POST /api/mails/{id}/send and POST /api/send → 202. */
export interface SendResult {
  id: string;
  delivery: DeliveryStatus[];
}

/** A hosted domain as /api/domains shows it (functions/http/domain-view.ts). */
export interface DomainRecord {
  type: string;
  host: string;
  value: string;
  purpose: string;
  status: 'pending' | 'ok' | 'wrong' | 'missing' | 'error';
  /** What was found, one value per line; null when nothing was. */
  found: string | null;
  explanation: string;
}
export interface DomainView {
  name: string;
  unicodeName: string;
  status: 'pending' | 'verified' | 'failed' | 'degraded';
  /** Why the domain is failed or degraded; null otherwise. */
  reason: string | null;
  createdAt: string | null;
  lastCheckedAt: string | null;
  nextCheckAt: string | null;
  attempts: number;
  dkimSelector: string | null;
  records: DomainRecord[];
}
