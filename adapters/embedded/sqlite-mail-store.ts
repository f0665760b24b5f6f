import { normalizeAddress } from '../../core/address';
import { isDraftFileKey } from '../../core/blob-keys';
import { MailError } from '../../core/errors';
import { newId } from '../../core/ids';
import { decodeCursor, encodeCursor } from '../../core/cursor';
import { mergeDelivery } from '../../core/delivery';
import { peopleOf } from '../../core/search';
import type { MailStore, MessageQuery, NewMessage } from '../../core/ports';
import { newDomain } from '../../core/domain-schedule';
import { DEFAULT_MAILBOXES, type DeliveryStatus, type DkimKey, type Domain, type DomainCheckState, type DomainStatus, type RecordCheck, type SendgridDomainAuth, type Draft, type DraftAttachment, type DraftFields, type Mailbox, type MessageSummary, type Page, type Role, type SpecialUse, type StoredMessage, type User, type UserSession, type UserWithSecret } from '../../core/types';
import type { EmbeddedDb, Statements } from './sqlite';

/** Applied in order, once each: only ever append (a data folder remembers how many it has). */
const MIGRATIONS = [
  `
  CREATE TABLE domains (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
  CREATE TABLE users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
  -- the directory: every address that delivers to a user (primary address and aliases)
  CREATE TABLE addresses (address TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE);
  CREATE TABLE mailboxes (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL, special_use TEXT, created_at INTEGER NOT NULL, UNIQUE (user_id, name));
  CREATE INDEX mailboxes_special ON mailboxes (user_id, special_use);
  CREATE TABLE messages (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, mailbox_id TEXT NOT NULL REFERENCES mailboxes(id),
    inbound_id TEXT NOT NULL, raw_blob_key TEXT NOT NULL, size INTEGER NOT NULL, received_at INTEGER NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0, flagged INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL, auth TEXT,
    UNIQUE (user_id, inbound_id));
  CREATE INDEX messages_list ON messages (mailbox_id, received_at DESC, id DESC);
  `,
  // folder counts kept as counters: counting rows per folder on every read is O(messages)
  `
  ALTER TABLE mailboxes ADD COLUMN total INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE mailboxes ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
  UPDATE mailboxes SET
    total = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id),
    unread = (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = mailboxes.id AND m.seen = 0);
  `,
  // full-text search over subject, people and the start of the body; rowid = messages.rowid
  `
  CREATE VIRTUAL TABLE messages_fts USING fts5(subject, people, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
  INSERT INTO messages_fts (rowid, subject, people, body)
    SELECT rowid, json_extract(summary, '$.subject'), json_extract(summary, '$.from.address') || ' ' || json_extract(summary, '$.from.name'), json_extract(summary, '$.snippet') FROM messages;
  `,
  // drafts: the fields and attachments a draft is composed from; the message row holds the composed copy
  `
  CREATE TABLE drafts (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL, fields TEXT NOT NULL, attachments TEXT NOT NULL);
  `,
  // body text waiting to be indexed (see indexPendingBodies)
  `CREATE TABLE fts_pending (rowid INTEGER PRIMARY KEY, body TEXT NOT NULL);`,
  // a domain's DKIM key pair (JSON of DkimKey), null until one is made
  `ALTER TABLE domains ADD COLUMN dkim TEXT;`,
  // token revocation: a password change raises the version; signed-out tokens until they expire
  `
  ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE revoked_tokens (
    token_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, expires_at INTEGER NOT NULL);
  CREATE INDEX revoked_tokens_user ON revoked_tokens (user_id, expires_at);
  `,
  // who refers to a blob: deleting a message and sweeping orphans ask by key
  `CREATE INDEX messages_blob ON messages (raw_blob_key);`,
  // a draft's version: saves are compare-and-swap on it (ETag / If-Match)
  `ALTER TABLE drafts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`,
  // DNS checks: status, last results (JSON of RecordCheck[]), schedule, SendGrid's records,
  // and the claim that keeps two checks of one domain apart; messages: the
  // Authentication-Results header kept beside the streamed raw bytes
  `
  ALTER TABLE domains ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
  ALTER TABLE domains ADD COLUMN reason TEXT;
  ALTER TABLE domains ADD COLUMN records TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE domains ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE domains ADD COLUMN last_checked_at INTEGER;
  ALTER TABLE domains ADD COLUMN next_check_at INTEGER;
  ALTER TABLE domains ADD COLUMN sendgrid TEXT;
  ALTER TABLE domains ADD COLUMN check_claim TEXT;
  ALTER TABLE domains ADD COLUMN check_claim_until INTEGER;
  UPDATE domains SET next_check_at = created_at;
  ALTER TABLE messages ADD COLUMN raw_prefix TEXT;
  `,
  // a sent copy's per-recipient delivery states (JSON of DeliveryStatus[])
  `ALTER TABLE messages ADD COLUMN delivery TEXT;`,
];

interface DomainRow {
  name: string;
  created_at: number;
  dkim: string | null;
  status: DomainStatus;
  reason: string | null;
  records: string;
  attempts: number;
  last_checked_at: number | null;
  next_check_at: number | null;
  sendgrid: string | null;
}

const DOMAIN_COLUMNS = 'name, created_at, dkim, status, reason, records, attempts, last_checked_at, next_check_at, sendgrid';

function toDomain(row: DomainRow): Domain {
  return {
    name: row.name,
    createdAt: row.created_at,
    dkim: row.dkim ? (JSON.parse(row.dkim) as DkimKey) : null,
    sendgrid: row.sendgrid ? (JSON.parse(row.sendgrid) as SendgridDomainAuth) : null,
    status: row.status,
    reason: row.reason,
    records: JSON.parse(row.records) as RecordCheck[],
    attempts: row.attempts,
    lastCheckedAt: row.last_checked_at,
    nextCheckAt: row.next_check_at,
  };
}

function insertDomain(s: Statements, domain: Domain): boolean {
  const result = s
    .get('INSERT OR IGNORE INTO domains (name, created_at, dkim, sendgrid, status, reason, records, attempts, last_checked_at, next_check_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(domain.name, domain.createdAt, domain.dkim ? JSON.stringify(domain.dkim) : null, domain.sendgrid ? JSON.stringify(domain.sendgrid) : null, domain.status, domain.reason, JSON.stringify(domain.records), domain.attempts, domain.lastCheckedAt, domain.nextCheckAt);
  return result.changes === 1;
}

/**
 * Indexes a message for search, in the transaction that files it: subject, people and
 * the body's text (searchText, at most SUMMARY_LIMITS.searchText), or the snippet when
 * there is none. Earlier versions indexed the snippet here and the body's text later, from
 * fts_pending, when the writer was idle (at 16 KB of text, indexing it here had halved the
 * throughput of 100 KB mail). At 4 KB, at once costs less in all: the snippet is no longer
 * indexed, deleted and indexed again (measured: 7-11 % less CPU per 4 KB message, the same at 100 KB).
 */
function indexMessage(s: Statements, rowid: number | bigint, summary: MessageSummary, searchText: string | undefined): void {
  const body = searchText && searchText.length > summary.snippet.length ? searchText : summary.snippet;
  s.get('INSERT INTO messages_fts (rowid, subject, people, body) VALUES (?, ?, ?, ?)').run(rowid, summary.subject, peopleOf(summary), body);
}

/**
 * Idle work for the writer thread: indexes up to `max` of the bodies an earlier version left
 * in fts_pending (it indexed the snippet at filing and the body later); true while more wait.
 */
export function indexPendingBodies(s: Statements, max = 20): boolean {
  const rows = s.get('SELECT p.rowid AS rowid, p.body AS body, m.summary AS summary FROM fts_pending p JOIN messages m ON m.rowid = p.rowid LIMIT ?').all(max) as Array<{ rowid: number; body: string; summary: string }>;
  for (const row of rows) {
    const summary = JSON.parse(row.summary) as MessageSummary;
    s.get('DELETE FROM messages_fts WHERE rowid = ?').run(row.rowid);
    s.get('INSERT INTO messages_fts (rowid, subject, people, body) VALUES (?, ?, ?, ?)').run(row.rowid, summary.subject, peopleOf(summary), row.body);
    s.get('DELETE FROM fts_pending WHERE rowid = ?').run(row.rowid);
  }
  return rows.length === max;
}

/**
 * A user's search words as an FTS5 query: every word must occur, each as a prefix;
 * quoting makes any punctuation in them plain text (no FTS syntax from users).
 */
export function ftsQuery(q: string): string | null {
  const words = q
    .split(/\s+/)
    .map((w) => w.replace(/"/g, '""'))
    .filter((w) => /[\p{L}\p{N}]/u.test(w))
    .slice(0, 20);
  return words.length ? words.map((w) => `"${w}"*`).join(' AND ') : null;
}

interface MessageRow {
  id: string;
  user_id: string;
  mailbox_id: string;
  inbound_id: string;
  raw_blob_key: string;
  size: number;
  received_at: number;
  seen: number;
  flagged: number;
  summary: string;
  auth: string | null;
  raw_prefix: string | null;
  delivery: string | null;
}

function toMessage(row: MessageRow): StoredMessage {
  const message: StoredMessage = {
    id: row.id,
    userId: row.user_id,
    mailboxId: row.mailbox_id,
    inboundId: row.inbound_id,
    rawBlobKey: row.raw_blob_key,
    size: row.size,
    receivedAt: row.received_at,
    seen: row.seen === 1,
    flagged: row.flagged === 1,
    summary: JSON.parse(row.summary),
    auth: row.auth ? JSON.parse(row.auth) : null,
    rawPrefix: row.raw_prefix ?? null,
  };
  if (row.delivery) message.delivery = JSON.parse(row.delivery) as DeliveryStatus[];
  return message;
}


interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  password_hash: string;
  created_at: number;
  token_version: number;
}

function toUser(row: UserRow): User {
  return { id: row.id, email: row.email, name: row.name, role: row.role, createdAt: row.created_at };
}

type NewUser = { email: string; name: string; passwordHash: string; role: Role };

function insertUser(s: Statements, input: NewUser): User {
  const email = normalizeAddress(input.email);
  const now = Date.now();
  const id = newId(now);
  try {
    s.get('INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(id, email, input.name, input.role, input.passwordHash, now);
    s.get('INSERT INTO addresses (address, user_id) VALUES (?, ?)').run(email, id);
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) throw new MailError('Conflict', `Address already in use: ${email}`);
    throw err;
  }
  const insertMailbox = s.get('INSERT INTO mailboxes (id, user_id, name, special_use, created_at) VALUES (?, ?, ?, ?, ?)');
  for (const mailbox of DEFAULT_MAILBOXES) insertMailbox.run(newId(now), id, mailbox.name, mailbox.specialUse, now);
  return { id, email, name: input.name, role: input.role, createdAt: now };
}

function adjustCounts(s: Statements, mailboxId: string, total: number, unread: number): void {
  if (total || unread) s.get('UPDATE mailboxes SET total = total + ?, unread = unread + ? WHERE id = ?').run(total, unread, mailboxId);
}

function ownMailbox(s: Statements, userId: string, mailboxId: string): { id: string; special_use: SpecialUse | null } {
  const row = s.get('SELECT id, special_use FROM mailboxes WHERE id = ? AND user_id = ?').get(mailboxId, userId) as { id: string; special_use: SpecialUse | null } | undefined;
  if (!row) throw new MailError('NotFound', 'Mailbox not found');
  return row;
}

function specialMailboxId(s: Statements, userId: string, specialUse: SpecialUse): string {
  const row = s.get('SELECT id FROM mailboxes WHERE user_id = ? AND special_use = ?').get(userId, specialUse) as { id: string } | undefined;
  if (!row) throw new MailError('TemporaryFailure', `user has no ${specialUse} folder`);
  return row.id;
}

/** Moves or re-flags one message row, keeping both folders' counters right. */
function patchRow(s: Statements, row: MessageRow, patch: { seen?: boolean; flagged?: boolean; mailboxId?: string }): void {
  const seen = patch.seen === undefined ? row.seen : patch.seen ? 1 : 0;
  const flagged = patch.flagged === undefined ? row.flagged : patch.flagged ? 1 : 0;
  const mailboxId = patch.mailboxId ?? row.mailbox_id;
  s.get('UPDATE messages SET seen = ?, flagged = ?, mailbox_id = ? WHERE id = ?').run(seen, flagged, mailboxId, row.id);
  adjustCounts(s, row.mailbox_id, -1, row.seen ? 0 : -1);
  adjustCounts(s, mailboxId, 1, seen ? 0 : 1);
}

/** Deletes message rows for good; returns the raw blob keys that nothing references any more. */
function removeRows(s: Statements, rows: MessageRow[]): string[] {
  const orphaned = new Set<string>();
  const attachmentBlobs: string[] = [];
  for (const row of rows) {
    // a draft's attachments are blobs of its own
    const draft = s.get('SELECT attachments FROM drafts WHERE message_id = ?').get(row.id) as { attachments: string } | undefined;
    const draftBlobs = draft ? (JSON.parse(draft.attachments) as DraftAttachment[]).map((a) => a.blobKey) : [];
    s.get('DELETE FROM messages_fts WHERE rowid = (SELECT rowid FROM messages WHERE id = ?)').run(row.id);
    s.get('DELETE FROM fts_pending WHERE rowid = (SELECT rowid FROM messages WHERE id = ?)').run(row.id);
    s.get('DELETE FROM messages WHERE id = ?').run(row.id);
    adjustCounts(s, row.mailbox_id, -1, row.seen ? 0 : -1);
    orphaned.add(row.raw_blob_key);
    attachmentBlobs.push(...draftBlobs);
  }
  return [...orphaned].filter((key) => !s.get('SELECT 1 FROM messages WHERE raw_blob_key = ? LIMIT 1').get(key)).concat(attachmentBlobs);
}

function ownRows(s: Statements, userId: string, ids: string[]): MessageRow[] {
  const get = s.get('SELECT * FROM messages WHERE id = ? AND user_id = ?');
  return [...new Set(ids)].map((id) => get.get(id, userId) as MessageRow | undefined).filter((r): r is MessageRow => Boolean(r));
}

/** The store's writes; they run on EmbeddedDb's writer thread. */
export const mailStoreWrites = {
  'mail.setup'(s: Statements, input: { domain: Domain; email: string; name: string; passwordHash: string }): User {
    const count = (s.get('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
    if (count > 0) throw new MailError('AlreadySetUp');
    insertDomain(s, input.domain);
    return insertUser(s, { email: input.email, name: input.name, passwordHash: input.passwordHash, role: 'admin' });
  },
  'mail.createDomain'(s: Statements, domain: Domain): Domain {
    if (!insertDomain(s, domain)) throw new MailError('Conflict', `Domain already exists: ${domain.name}`);
    return domain;
  },
  'mail.setDomainDkim'(s: Statements, input: { name: string; key: DkimKey }): void {
    const result = s.get('UPDATE domains SET dkim = ? WHERE name = ?').run(JSON.stringify(input.key), input.name);
    if (result.changes === 0) throw new MailError('NotFound', `Domain not found: ${input.name}`);
  },
  'mail.setDomainSendgrid'(s: Statements, input: { name: string; auth: SendgridDomainAuth | null }): void {
    const result = s.get('UPDATE domains SET sendgrid = ? WHERE name = ?').run(input.auth ? JSON.stringify(input.auth) : null, input.name);
    if (result.changes === 0) throw new MailError('NotFound', `Domain not found: ${input.name}`);
  },
  'mail.claimDomainCheck'(s: Statements, a: { name: string; token: string; now: number; until: number }): 'claimed' | 'busy' | 'missing' {
    const row = s.get('SELECT check_claim, check_claim_until FROM domains WHERE name = ?').get(a.name) as { check_claim: string | null; check_claim_until: number | null } | undefined;
    if (!row) return 'missing';
    if (row.check_claim && row.check_claim !== a.token && (row.check_claim_until ?? 0) > a.now) return 'busy';
    s.get('UPDATE domains SET check_claim = ?, check_claim_until = ? WHERE name = ?').run(a.token, a.until, a.name);
    return 'claimed';
  },
  'mail.saveDomainCheck'(s: Statements, a: { name: string; token: string; state: DomainCheckState }): Domain {
    const { state } = a;
    const result = s
      .get(
        `UPDATE domains SET status = ?, reason = ?, records = ?, attempts = ?, last_checked_at = ?, next_check_at = ?,
           check_claim_until = CASE WHEN check_claim = ? THEN NULL ELSE check_claim_until END,
           check_claim = CASE WHEN check_claim = ? THEN NULL ELSE check_claim END
         WHERE name = ?`,
      )
      .run(state.status, state.reason, JSON.stringify(state.records), state.attempts, state.lastCheckedAt, state.nextCheckAt, a.token, a.token, a.name);
    if (result.changes === 0) throw new MailError('NotFound', `Domain not found: ${a.name}`);
    return toDomain(s.get(`SELECT ${DOMAIN_COLUMNS} FROM domains WHERE name = ?`).get(a.name) as DomainRow);
  },
  'mail.releaseDomainCheck'(s: Statements, a: { name: string; token: string }): void {
    s.get('UPDATE domains SET check_claim = NULL, check_claim_until = NULL WHERE name = ? AND check_claim = ?').run(a.name, a.token);
  },
  'mail.deleteDomain'(s: Statements, a: { name: string }): void {
    if (!s.get('SELECT 1 FROM domains WHERE name = ?').get(a.name)) throw new MailError('NotFound', `Domain not found: ${a.name}`);
    // addresses are stored lower-case; the suffix test is exact (no LIKE wildcards from the name)
    const suffix = `@${a.name}`;
    const n = (s.get('SELECT COUNT(*) AS n FROM addresses WHERE substr(address, -?) = ?').get(suffix.length, suffix) as { n: number }).n;
    if (n > 0) throw new MailError('Conflict', `${a.name} still has ${n} address${n === 1 ? '' : 'es'} (users or aliases): remove them first`, { details: { addresses: n } });
    s.get('DELETE FROM domains WHERE name = ?').run(a.name);
  },
  'mail.createUser'(s: Statements, input: NewUser): User {
    return insertUser(s, input);
  },
  'mail.setPasswordHash'(s: Statements, a: { userId: string; passwordHash: string }): { tokenVersion: number } {
    const row = s.get('UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = ? RETURNING token_version').get(a.passwordHash, a.userId) as { token_version: number } | undefined;
    if (!row) throw new MailError('NotFound', 'User not found');
    return { tokenVersion: row.token_version };
  },
  'mail.revokeToken'(s: Statements, a: { userId: string; tokenId: string; expiresAt: number; now: number }): void {
    if (!s.get('SELECT 1 FROM users WHERE id = ?').get(a.userId)) throw new MailError('NotFound', 'User not found');
    s.get('DELETE FROM revoked_tokens WHERE user_id = ? AND expires_at <= ?').run(a.userId, a.now);
    s.get('INSERT OR IGNORE INTO revoked_tokens (token_id, user_id, expires_at) VALUES (?, ?, ?)').run(a.tokenId, a.userId, a.expiresAt);
  },
  'mail.deleteUser'(s: Statements, a: { userId: string }): { orphanedBlobKeys: string[] } {
    const user = s.get('SELECT role FROM users WHERE id = ?').get(a.userId) as { role: Role } | undefined;
    if (!user) throw new MailError('NotFound', 'User not found');
    // one writer thread runs writes one at a time: two admins deleting each other cannot both pass this
    if (user.role === 'admin' && (s.get("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'").get() as { n: number }).n <= 1) throw new MailError('LastAdmin');
    const rows = s.get('SELECT * FROM messages WHERE user_id = ?').all(a.userId) as MessageRow[];
    const orphanedBlobKeys = removeRows(s, rows);
    s.get('DELETE FROM mailboxes WHERE user_id = ?').run(a.userId);
    s.get('DELETE FROM addresses WHERE user_id = ?').run(a.userId);
    s.get('DELETE FROM users WHERE id = ?').run(a.userId);
    return { orphanedBlobKeys };
  },
  'mail.addAlias'(s: Statements, a: { userId: string; address: string }): void {
    if (!s.get('SELECT 1 FROM users WHERE id = ?').get(a.userId)) throw new MailError('NotFound', 'User not found');
    if (s.get('INSERT OR IGNORE INTO addresses (address, user_id) VALUES (?, ?)').run(a.address, a.userId).changes === 0) {
      throw new MailError('Conflict', `Address already in use: ${a.address}`);
    }
  },
  'mail.removeAlias'(s: Statements, a: { userId: string; address: string }): void {
    const removed = s.get('DELETE FROM addresses WHERE address = ? AND user_id = ? AND address <> (SELECT email FROM users WHERE id = ?)').run(a.address, a.userId, a.userId);
    if (removed.changes === 0) throw new MailError('NotFound', 'Alias not found');
  },
  'mail.createMailbox'(s: Statements, a: { userId: string; name: string; id: string; now: number }): void {
    if (s.get('INSERT OR IGNORE INTO mailboxes (id, user_id, name, special_use, created_at) VALUES (?, ?, ?, NULL, ?)').run(a.id, a.userId, a.name, a.now).changes === 0) {
      throw new MailError('Conflict', `A folder named "${a.name}" exists`);
    }
  },
  'mail.renameMailbox'(s: Statements, a: { userId: string; mailboxId: string; name: string }): void {
    if (ownMailbox(s, a.userId, a.mailboxId).special_use) throw new MailError('SpecialMailbox');
    if (s.get('SELECT 1 FROM mailboxes WHERE user_id = ? AND name = ? AND id <> ?').get(a.userId, a.name, a.mailboxId)) throw new MailError('Conflict', `A folder named "${a.name}" exists`);
    s.get('UPDATE mailboxes SET name = ? WHERE id = ?').run(a.name, a.mailboxId);
  },
  'mail.deleteMailbox'(s: Statements, a: { userId: string; mailboxId: string; moveToTrash: boolean }): void {
    if (ownMailbox(s, a.userId, a.mailboxId).special_use) throw new MailError('SpecialMailbox');
    const rows = s.get('SELECT * FROM messages WHERE mailbox_id = ?').all(a.mailboxId) as MessageRow[];
    if (rows.length && !a.moveToTrash) throw new MailError('MailboxNotEmpty', `Folder holds ${rows.length} messages; delete with moveToTrash=true to move them to Trash`);
    const trash = specialMailboxId(s, a.userId, 'trash');
    for (const row of rows) patchRow(s, row, { mailboxId: trash });
    s.get('DELETE FROM mailboxes WHERE id = ?').run(a.mailboxId);
  },
  'mail.updateMessages'(s: Statements, a: { userId: string; ids: string[]; patch: { seen?: boolean; flagged?: boolean; mailboxId?: string } }): StoredMessage[] {
    if (a.patch.mailboxId) ownMailbox(s, a.userId, a.patch.mailboxId);
    const rows = ownRows(s, a.userId, a.ids);
    for (const row of rows) patchRow(s, row, a.patch);
    const get = s.get('SELECT * FROM messages WHERE id = ?');
    return rows.map((row) => toMessage(get.get(row.id) as MessageRow));
  },
  'mail.deleteMessages'(s: Statements, a: { userId: string; ids: string[] }): { trashed: string[]; deleted: string[]; orphanedBlobKeys: string[] } {
    const trash = specialMailboxId(s, a.userId, 'trash');
    const rows = ownRows(s, a.userId, a.ids);
    const inTrash = rows.filter((r) => r.mailbox_id === trash);
    const elsewhere = rows.filter((r) => r.mailbox_id !== trash);
    for (const row of elsewhere) patchRow(s, row, { mailboxId: trash });
    return { trashed: elsewhere.map((r) => r.id), deleted: inTrash.map((r) => r.id), orphanedBlobKeys: removeRows(s, inTrash) };
  },
  'mail.saveDraft'(
    s: Statements,
    a: { userId: string; id: string | null; expectedVersion?: number; newId: string; fields: DraftFields; attachments: DraftAttachment[]; rawBlobKey: string; size: number; summary: MessageSummary; now: number },
  ): { message: StoredMessage; version: number; replacedBlobKey: string | null } {
    const { searchText, ...summary } = a.summary;
    let id = a.id;
    let replacedBlobKey: string | null = null;
    let version = 1;
    if (id) {
      const row = s.get('SELECT m.*, d.version AS draft_version FROM messages m JOIN drafts d ON d.message_id = m.id WHERE m.id = ? AND m.user_id = ?').get(id, a.userId) as (MessageRow & { draft_version: number }) | undefined;
      if (!row) throw new MailError('NotFound', 'Draft not found');
      // writes run one at a time on this thread: the check and the update are one step
      if (a.expectedVersion !== undefined && row.draft_version !== a.expectedVersion) throw new MailError('PreconditionFailed', 'The draft was saved meanwhile: load it again, then retry');
      version = row.draft_version + 1;
      replacedBlobKey = row.raw_blob_key === a.rawBlobKey ? null : row.raw_blob_key;
      s.get('UPDATE messages SET raw_blob_key = ?, size = ?, summary = ?, received_at = ? WHERE id = ?').run(a.rawBlobKey, a.size, JSON.stringify(summary), a.now, id);
      s.get('UPDATE drafts SET fields = ?, attachments = ?, version = ? WHERE message_id = ?').run(JSON.stringify(a.fields), JSON.stringify(a.attachments), version, id);
      s.get('DELETE FROM messages_fts WHERE rowid = (SELECT rowid FROM messages WHERE id = ?)').run(id);
    } else {
      id = a.newId;
      const drafts = specialMailboxId(s, a.userId, 'drafts');
      s.get('INSERT INTO messages (id, user_id, mailbox_id, inbound_id, raw_blob_key, size, received_at, seen, summary) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)').run(id, a.userId, drafts, `draft:${id}`, a.rawBlobKey, a.size, a.now, JSON.stringify(summary));
      s.get('INSERT INTO drafts (message_id, user_id, fields, attachments, version) VALUES (?, ?, ?, ?, 1)').run(id, a.userId, JSON.stringify(a.fields), JSON.stringify(a.attachments));
      adjustCounts(s, drafts, 1, 0);
    }
    const row = s.get('SELECT rowid AS r, * FROM messages WHERE id = ?').get(id) as MessageRow & { r: number };
    indexMessage(s, row.r, summary, searchText);
    return { message: toMessage(row), version, replacedBlobKey };
  },
  'mail.updateDelivery'(s: Statements, a: { userId: string; messageId: string; updates: DeliveryStatus[] }): boolean {
    const row = s.get('SELECT delivery FROM messages WHERE id = ? AND user_id = ?').get(a.messageId, a.userId) as { delivery: string | null } | undefined;
    if (!row) return false;
    const merged = mergeDelivery(row.delivery ? (JSON.parse(row.delivery) as DeliveryStatus[]) : [], a.updates);
    s.get('UPDATE messages SET delivery = ? WHERE id = ?').run(JSON.stringify(merged), a.messageId);
    return true;
  },
  'mail.fileMessages'(s: Statements, items: NewMessage[]): StoredMessage[] {
    const insert = s.get(
      `INSERT INTO messages (id, user_id, mailbox_id, inbound_id, raw_blob_key, size, received_at, seen, summary, auth, raw_prefix, delivery)
       VALUES (@id, @userId, @mailboxId, @inboundId, @rawBlobKey, @size, @receivedAt, @seen, @summary, @auth, @rawPrefix, @delivery)
       ON CONFLICT (user_id, inbound_id) DO NOTHING`,
    );
    const existing = s.get('SELECT * FROM messages WHERE user_id = ? AND inbound_id = ?');
    // every write that adds, removes, moves or (un)reads a message keeps these counters right
    const count = s.get('UPDATE mailboxes SET total = total + 1, unread = unread + ? WHERE id = ?');
    return items.map((item) => {
      const { searchText, ...summary } = item.summary;
      const result = insert.run({
        id: newId(),
        userId: item.userId,
        mailboxId: item.mailboxId,
        inboundId: item.inboundId,
        rawBlobKey: item.rawBlobKey,
        size: item.size,
        receivedAt: item.receivedAt,
        seen: item.seen ? 1 : 0,
        summary: JSON.stringify(summary),
        auth: item.auth ? JSON.stringify(item.auth) : null,
        rawPrefix: item.rawPrefix ?? null,
        delivery: item.delivery ? JSON.stringify(item.delivery) : null,
      });
      if (result.changes === 1) {
        count.run(item.seen ? 0 : 1, item.mailboxId);
        indexMessage(s, result.lastInsertRowid, summary, searchText);
      }
      return toMessage(existing.get(item.userId, item.inboundId) as MessageRow);
    });
  },
};

/** MailStore on SQLite (better-sqlite3). Reads run here; writes go to the writer thread's group commit. */
export class SqliteMailStore implements MailStore {
  constructor(private readonly edb: EmbeddedDb) {
    edb.migrate('mail-store', MIGRATIONS);
  }

  async setup(input: { domain: string; email: string; name: string; passwordHash: string; dkim?: DkimKey | null }): Promise<User> {
    const { dkim, domain, ...user } = input;
    return this.edb.write('mail.setup', { ...user, domain: newDomain(domain, Date.now(), { dkim }) });
  }

  async countUsers(): Promise<number> {
    return (this.edb.stmt('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  async createDomain(name: string, init?: { dkim?: DkimKey | null; sendgrid?: SendgridDomainAuth | null; nextCheckAt?: number; createdAt?: number }): Promise<Domain> {
    return this.edb.write('mail.createDomain', newDomain(name, init?.createdAt ?? Date.now(), init));
  }

  async getDomain(name: string): Promise<Domain | null> {
    const row = this.edb.stmt(`SELECT ${DOMAIN_COLUMNS} FROM domains WHERE name = ?`).get(name.toLowerCase()) as DomainRow | undefined;
    return row ? toDomain(row) : null;
  }

  async listDomains(): Promise<Domain[]> {
    const rows = this.edb.stmt(`SELECT ${DOMAIN_COLUMNS} FROM domains ORDER BY name`).all() as DomainRow[];
    return rows.map(toDomain);
  }

  async setDomainDkim(name: string, key: DkimKey): Promise<void> {
    await this.edb.write('mail.setDomainDkim', { name: name.toLowerCase(), key });
  }

  async setDomainSendgrid(name: string, auth: SendgridDomainAuth | null): Promise<void> {
    await this.edb.write('mail.setDomainSendgrid', { name: name.toLowerCase(), auth });
  }

  async claimDomainCheck(name: string, token: string, now: number, until: number): Promise<'claimed' | 'busy' | 'missing'> {
    return this.edb.write('mail.claimDomainCheck', { name: name.toLowerCase(), token, now, until });
  }

  async saveDomainCheck(name: string, token: string, state: DomainCheckState): Promise<Domain> {
    return this.edb.write('mail.saveDomainCheck', { name: name.toLowerCase(), token, state });
  }

  async releaseDomainCheck(name: string, token: string): Promise<void> {
    await this.edb.write('mail.releaseDomainCheck', { name: name.toLowerCase(), token });
  }

  async deleteDomain(name: string): Promise<void> {
    await this.edb.write('mail.deleteDomain', { name: name.toLowerCase() });
  }

  async createUser(input: NewUser): Promise<User> {
    return this.edb.write('mail.createUser', input);
  }

  async getUserByEmail(email: string): Promise<UserWithSecret | null> {
    const row = this.edb.stmt('SELECT * FROM users WHERE email = ?').get(normalizeAddress(email)) as UserRow | undefined;
    return row ? { ...toUser(row), passwordHash: row.password_hash, tokenVersion: row.token_version } : null;
  }

  async getUserById(id: string): Promise<User | null> {
    const row = this.edb.stmt('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row ? toUser(row) : null;
  }

  async getUserSession(id: string): Promise<UserSession | null> {
    const row = this.edb.stmt('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    if (!row) return null;
    const revoked = this.edb.stmt('SELECT token_id FROM revoked_tokens WHERE user_id = ? AND expires_at > ?').pluck().all(id, Date.now()) as string[];
    return { ...toUser(row), tokenVersion: row.token_version, revokedTokenIds: revoked };
  }

  async revokeToken(userId: string, tokenId: string, expiresAt: number): Promise<void> {
    await this.edb.write('mail.revokeToken', { userId, tokenId, expiresAt, now: Date.now() });
  }

  async resolveAddress(address: string): Promise<{ userId: string } | null> {
    const row = this.edb.stmt('SELECT user_id FROM addresses WHERE address = ?').get(normalizeAddress(address)) as { user_id: string } | undefined;
    return row ? { userId: row.user_id } : null;
  }

  async listUsers(): Promise<Array<User & { aliases: string[] }>> {
    const users = (this.edb.stmt('SELECT * FROM users ORDER BY email').all() as UserRow[]).map(toUser);
    const aliases = this.edb.stmt('SELECT a.address, a.user_id FROM addresses a JOIN users u ON u.id = a.user_id WHERE a.address <> u.email ORDER BY a.address').all() as Array<{ address: string; user_id: string }>;
    return users.map((u) => ({ ...u, aliases: aliases.filter((a) => a.user_id === u.id).map((a) => a.address) }));
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<{ tokenVersion: number }> {
    return this.edb.write('mail.setPasswordHash', { userId, passwordHash });
  }

  async deleteUser(userId: string): Promise<{ orphanedBlobKeys: string[] }> {
    return this.edb.write('mail.deleteUser', { userId });
  }

  async addAlias(userId: string, address: string): Promise<void> {
    await this.edb.write('mail.addAlias', { userId, address: normalizeAddress(address) });
  }

  async removeAlias(userId: string, address: string): Promise<void> {
    await this.edb.write('mail.removeAlias', { userId, address: normalizeAddress(address) });
  }

  async listAliases(userId: string): Promise<string[]> {
    const rows = this.edb.stmt('SELECT a.address FROM addresses a JOIN users u ON u.id = a.user_id WHERE a.user_id = ? AND a.address <> u.email ORDER BY a.address').all(userId) as Array<{ address: string }>;
    return rows.map((r) => r.address);
  }

  async createMailbox(userId: string, name: string): Promise<Mailbox> {
    const id = newId();
    await this.edb.write('mail.createMailbox', { userId, name, id, now: Date.now() });
    return (await this.getMailbox(userId, id))!;
  }

  async renameMailbox(userId: string, mailboxId: string, name: string): Promise<Mailbox> {
    await this.edb.write('mail.renameMailbox', { userId, mailboxId, name });
    return (await this.getMailbox(userId, mailboxId))!;
  }

  async deleteMailbox(userId: string, mailboxId: string, opts: { moveToTrash: boolean }): Promise<void> {
    await this.edb.write('mail.deleteMailbox', { userId, mailboxId, moveToTrash: opts.moveToTrash });
  }

  async updateMessages(userId: string, ids: string[], patch: { seen?: boolean; flagged?: boolean; mailboxId?: string }): Promise<StoredMessage[]> {
    return this.edb.write('mail.updateMessages', { userId, ids, patch });
  }

  async deleteMessages(userId: string, ids: string[]): Promise<{ trashed: string[]; deleted: string[]; orphanedBlobKeys: string[] }> {
    return this.edb.write('mail.deleteMessages', { userId, ids });
  }

  private mailboxRows(where: string, ...params: unknown[]): Mailbox[] {
    const rows = this.edb
      .stmt(`SELECT b.id, b.user_id, b.name, b.special_use, b.total, b.unread FROM mailboxes b WHERE ${where} ORDER BY b.created_at, b.rowid`)
      .all(...params) as Array<{ id: string; user_id: string; name: string; special_use: SpecialUse | null; total: number; unread: number }>;
    return rows.map((r) => ({ id: r.id, userId: r.user_id, name: r.name, specialUse: r.special_use, total: r.total, unread: r.unread }));
  }

  async listMailboxes(userId: string): Promise<Mailbox[]> {
    return this.mailboxRows('b.user_id = ?', userId);
  }

  async getMailbox(userId: string, mailboxId: string): Promise<Mailbox | null> {
    return this.mailboxRows('b.user_id = ? AND b.id = ?', userId, mailboxId)[0] ?? null;
  }

  async findMailboxBySpecialUse(userId: string, specialUse: SpecialUse): Promise<Mailbox | null> {
    return this.mailboxRows('b.user_id = ? AND b.special_use = ?', userId, specialUse)[0] ?? null;
  }

  async specialMailboxId(userId: string, specialUse: SpecialUse): Promise<string | null> {
    const row = this.edb.stmt('SELECT id FROM mailboxes WHERE user_id = ? AND special_use = ?').get(userId, specialUse) as { id: string } | undefined;
    return row?.id ?? null;
  }

  async fileMessages(items: NewMessage[]): Promise<StoredMessage[]> {
    if (items.length === 0) return [];
    return this.edb.write('mail.fileMessages', items);
  }

  async listMessages(userId: string, query: MessageQuery): Promise<Page<StoredMessage>> {
    const limit = Math.max(1, Math.min(query.limit, 500));
    const after = query.cursor ? decodeCursor(query.cursor) : null;
    const where = ['m.user_id = @userId'];
    if (query.mailboxId) where.push('m.mailbox_id = @mailboxId');
    if (query.unread !== undefined) where.push(query.unread ? 'm.seen = 0' : 'm.seen = 1');
    if (query.flagged !== undefined) where.push(query.flagged ? 'm.flagged = 1' : 'm.flagged = 0');
    if (after) where.push('(m.received_at < @afterAt OR (m.received_at = @afterAt AND m.id < @afterId))');
    let from = 'messages m';
    const match = query.q !== undefined ? ftsQuery(query.q) : null;
    if (query.q !== undefined) {
      if (!match) return { items: [], nextCursor: null };
      from = 'messages_fts f JOIN messages m ON m.rowid = f.rowid';
      where.push('messages_fts MATCH @match');
    }
    const rows = this.edb
      .stmt(`SELECT m.* FROM ${from} WHERE ${where.join(' AND ')} ORDER BY m.received_at DESC, m.id DESC LIMIT @limit`)
      .all({ mailboxId: query.mailboxId ?? '', userId, afterAt: after?.receivedAt ?? 0, afterId: after?.id ?? '', limit: limit + 1, match }) as MessageRow[];
    const items = rows.slice(0, limit).map(toMessage);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.receivedAt, last.id) : null };
  }

  async updateDelivery(userId: string, messageId: string, updates: DeliveryStatus[]): Promise<boolean> {
    return this.edb.write('mail.updateDelivery', { userId, messageId, updates });
  }

  async getDraft(userId: string, id: string): Promise<Draft | null> {
    const row = this.edb.stmt('SELECT message_id, fields, attachments, version FROM drafts WHERE message_id = ? AND user_id = ?').get(id, userId) as { message_id: string; fields: string; attachments: string; version: number } | undefined;
    return row ? { id: row.message_id, fields: JSON.parse(row.fields), attachments: JSON.parse(row.attachments), version: row.version } : null;
  }

  async saveDraft(userId: string, input: { id: string | null; expectedVersion?: number; fields: DraftFields; attachments: DraftAttachment[]; rawBlobKey: string; size: number; summary: MessageSummary }): Promise<{ message: StoredMessage; version: number; replacedBlobKey: string | null }> {
    return this.edb.write('mail.saveDraft', { userId, ...input, newId: newId(), now: Date.now() });
  }

  async getMessage(userId: string, id: string): Promise<StoredMessage | null> {
    const row = this.edb.stmt('SELECT * FROM messages WHERE id = ? AND user_id = ?').get(id, userId) as MessageRow | undefined;
    return row ? toMessage(row) : null;
  }

  async referencedBlobKeys(keys: string[]): Promise<Set<string>> {
    const list = JSON.stringify([...new Set(keys)]);
    const rows = this.edb.stmt('SELECT raw_blob_key AS k FROM messages WHERE raw_blob_key IN (SELECT value FROM json_each(?))').all(list) as Array<{ k: string }>;
    if (keys.some(isDraftFileKey)) {
      const files = "SELECT json_extract(f.value, '$.blobKey') AS k FROM drafts d, json_each(d.attachments) f WHERE json_extract(f.value, '$.blobKey') IN (SELECT value FROM json_each(?))";
      rows.push(...(this.edb.stmt(files).all(list) as Array<{ k: string }>));
    }
    return new Set(rows.map((r) => r.k));
  }

  /** Reads work, and so do writes: a dead or stuck writer thread makes health say so. */
  async ping(): Promise<void> {
    this.edb.stmt('SELECT 1').get();
    await this.edb.pingWriter();
  }

  async close(): Promise<void> {
    // the connection belongs to the EmbeddedDb, closed by whoever opened it
  }
}
