import type { Readable } from 'node:stream';
import type { DeliveryStatus, DkimKey, Domain, DomainCheckState, SendgridDomainAuth, Draft, DraftAttachment, DraftFields, Mailbox, MessageSummary, Page, Role, StoredMessage, User, UserSession, UserWithSecret } from './types';

/**
 * Records: users, domains, mailboxes, messages. Every adapter (SQLite, Cosmos DB)
 * passes the same contract suite in adapters/contract/.
 * Not-found is `null`, never an exception; SDK errors are wrapped in MailError.
 */
export interface MailStore {
  /** First run: creates the domain (with its DKIM key when given) and its admin in one step; `AlreadySetUp` if any user exists. */
  setup(input: { domain: string; email: string; name: string; passwordHash: string; dkim?: DkimKey | null }): Promise<User>;
  countUsers(): Promise<number>;

  /** A new domain, status `pending`, first check due at `nextCheckAt` (default: now; `createdAt` default now too: the 72 h run from it). `Conflict` when it exists. */
  createDomain(name: string, init?: { dkim?: DkimKey | null; sendgrid?: SendgridDomainAuth | null; nextCheckAt?: number; createdAt?: number }): Promise<Domain>;
  getDomain(name: string): Promise<Domain | null>;
  listDomains(): Promise<Domain[]>;
  /** Sets (or replaces) the domain's DKIM key; `NotFound` when the domain is not hosted. */
  setDomainDkim(name: string, key: DkimKey): Promise<void>;
  /** Sets (or clears) the domain's SendGrid domain authentication; `NotFound` when the domain is not hosted. */
  setDomainSendgrid(name: string, auth: SendgridDomainAuth | null): Promise<void>;
  /**
   * Claims the right to check the domain's DNS until `until` (epoch ms), so two checks
   * of one domain never run at once, across processes: `busy` while another live
   * claim holds it (an expired claim is taken over), `missing` when the domain is gone.
   */
  claimDomainCheck(name: string, token: string, now: number, until: number): Promise<'claimed' | 'busy' | 'missing'>;
  /** Stores a check's outcome and releases the claim made with `token` (another's claim is left alone). `NotFound` when gone. */
  saveDomainCheck(name: string, token: string, state: DomainCheckState): Promise<Domain>;
  /** Releases the claim made with `token` without storing anything (a check that could not finish). */
  releaseDomainCheck(name: string, token: string): Promise<void>;
  /** Removes the domain. `Conflict` (saying how many) while any address (user or alias) is on it; `NotFound` when not hosted. */
  deleteDomain(name: string): Promise<void>;

  /** Creates the user, its address and its default folders. `Conflict` when the address is taken. */
  createUser(input: { email: string; name: string; passwordHash: string; role: Role }): Promise<User>;
  getUserByEmail(email: string): Promise<UserWithSecret | null>;
  getUserById(id: string): Promise<User | null>;
  /** The directory: which user (if any) receives mail for this address (primary or alias). */
  resolveAddress(address: string): Promise<{ userId: string } | null>;

  /** Every user with its alias addresses (the primary address is not among them). */
  listUsers(): Promise<Array<User & { aliases: string[] }>>;
  /** Sets the hash and revokes every token issued before (the token version goes up); returns the new version. */
  setPasswordHash(userId: string, passwordHash: string): Promise<{ tokenVersion: number }>;
  /** The user with what token checks need; null when the user does not exist. */
  getUserSession(userId: string): Promise<UserSession | null>;
  /** Signs one token out until it expires (`expiresAt`, epoch ms); expired entries are dropped. */
  revokeToken(userId: string, tokenId: string, expiresAt: number): Promise<void>;
  /**
   * Removes the user, its folders, addresses and messages; returns the raw blob keys no one references any more.
   * `LastAdmin` when the user is the only administrator left (also when two admins are deleted at once).
   */
  deleteUser(userId: string): Promise<{ orphanedBlobKeys: string[] }>;
  /** `Conflict` when the address delivers to anyone already. */
  addAlias(userId: string, address: string): Promise<void>;
  /** `NotFound` unless `address` is an alias of this user. */
  removeAlias(userId: string, address: string): Promise<void>;
  listAliases(userId: string): Promise<string[]>;

  listMailboxes(userId: string): Promise<Mailbox[]>;
  /** A custom folder; `Conflict` when the user has one by that name. */
  createMailbox(userId: string, name: string): Promise<Mailbox>;
  /** Custom folders only (`SpecialMailbox` otherwise); `NotFound`, `Conflict` as usual. */
  renameMailbox(userId: string, mailboxId: string, name: string): Promise<Mailbox>;
  /** Custom folders only; `MailboxNotEmpty` unless empty or `moveToTrash`, which moves its messages to Trash first. */
  deleteMailbox(userId: string, mailboxId: string, opts: { moveToTrash: boolean }): Promise<void>;
  getMailbox(userId: string, mailboxId: string): Promise<Mailbox | null>;
  findMailboxBySpecialUse(userId: string, specialUse: 'inbox' | 'sent' | 'drafts' | 'junk' | 'trash'): Promise<Mailbox | null>;
  /**
   * The id of a special folder (null: no such user). It never changes while the user
   * exists, so a store may keep it (the Cosmos store does: filing and listing then ask
   * Cosmos DB nothing for it); a caller that must notice a deleted user checks the
   * user, not this.
   */
  specialMailboxId(userId: string, specialUse: 'inbox' | 'sent' | 'drafts' | 'junk' | 'trash'): Promise<string | null>;

  /**
   * Files copies of inbound messages. Idempotent on (userId, inboundId): filing the
   * same inbound message for the same user twice returns the first copy.
   */
  fileMessages(items: NewMessage[]): Promise<StoredMessage[]>;
  /** Newest first. `cursor` is opaque, from a previous page; a bad one is `InvalidCursor`. */
  listMessages(userId: string, query: MessageQuery): Promise<Page<StoredMessage>>;
  getMessage(userId: string, id: string): Promise<StoredMessage | null>;
  /**
   * Sets flags or moves the user's messages; ids of other users or unknown ids are
   * skipped (the result holds only what was updated). A target folder that is not
   * the user's is `NotFound`. Folder counts follow.
   */
  updateMessages(userId: string, ids: string[], patch: { seen?: boolean; flagged?: boolean; mailboxId?: string }): Promise<StoredMessage[]>;
  /**
   * Moves the user's messages to Trash; those already in Trash are removed for good.
   * Returns the ids affected and the raw blob keys no message references any more.
   */
  deleteMessages(userId: string, ids: string[]): Promise<{ trashed: string[]; deleted: string[]; orphanedBlobKeys: string[] }>;

  /**
   * Merges recipients' delivery states into a sent message's `delivery` (by recipient;
   * others stay). A message that is gone (deleted by its owner) is not an error: false.
   */
  updateDelivery(userId: string, messageId: string, updates: DeliveryStatus[]): Promise<boolean>;

  getDraft(userId: string, id: string): Promise<Draft | null>;
  /**
   * Creates (id null; version 1) or replaces a draft in the user's Drafts folder
   * with freshly composed raw bytes, one version up. Replacing anything but the
   * user's draft is `NotFound`. With `expectedVersion`, the replacement is a
   * compare-and-swap: a draft at another version (saved meanwhile) is
   * `PreconditionFailed` and nothing changes. Returns the message, the new version
   * and the raw blob key the draft no longer uses.
   */
  saveDraft(userId: string, input: { id: string | null; expectedVersion?: number; fields: DraftFields; attachments: DraftAttachment[]; rawBlobKey: string; size: number; summary: MessageSummary }): Promise<{ message: StoredMessage; version: number; replacedBlobKey: string | null }>;

  /**
   * Of `keys`, the blob keys some record refers to: any user's message (its raw
   * bytes) or draft (its bytes and its files). The orphan sweeper asks this before
   * removing a blob; a record kind that refers to blobs is answered for here.
   */
  referencedBlobKeys(keys: string[]): Promise<Set<string>>;

  /** Readiness for /api/health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** An MX answer, as node:dns gives it. */
export interface MxRecord {
  exchange: string;
  priority: number;
}

/**
 * DNS lookups (node:dns/promises in production, a table in tests). Names are
 * queried as given (A-labels). Failures reject with a DnsError whose `code` is
 * node's: ENOTFOUND (NXDOMAIN), ENODATA (the name has no record of that type),
 * ETIMEOUT, ESERVFAIL, EREFUSED, ECONNREFUSED. CNAMEs are followed for every type
 * but CNAME, as a recursive resolver does.
 */
export interface DnsResolver {
  resolveMx(name: string): Promise<MxRecord[]>;
  /** Each record as its character-strings (a long TXT record comes split into several). */
  resolveTxt(name: string): Promise<string[][]>;
  resolveCname(name: string): Promise<string[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  /** For SPF's ptr mechanism and %{p} macro. */
  resolvePtr(name: string): Promise<string[]>;
}

/** SendGrid's domain authentication (issue 9 asks it for the records to publish; tested against a loopback fake). */
export interface DomainAuthProvider {
  /** Creates (or finds) the domain's authentication; its records are CNAMEs the owner publishes. */
  authenticate(domain: string): Promise<SendgridDomainAuth>;
  /** Asks the provider to check the records now; true when it finds them valid. */
  validate(id: number): Promise<boolean>;
  /** Best effort, when the domain is removed. */
  remove(id: number): Promise<void>;
}

/** What the SMTP edge needs of the store: who receives mail here. */
export type Directory = Pick<MailStore, 'resolveAddress' | 'getDomain'>;

/**
 * Messages per sender in a sliding window, kept where every process that sends sees
 * them (the Azure shape: its Functions instances and edge replicas), counted by the
 * minute: a message counts until a whole window after the end of its minute.
 */
export interface SendCounter {
  /**
   * Counts up to `take` messages of `sender`, as many as the window has room for, in
   * one atomic step: any number of processes counting at once never pass `max`
   * together. `waitMs`: when not all were taken (or, with `take` 0, a look only, when
   * there is no room now), how long until there is room again; else 0.
   */
  countSend(sender: string, opts: { now: number; max: number; windowMs: number; take: number }): Promise<{ taken: number; waitMs: number }>;
}

/** An account's shared login count (LoginCounter): wrong passwords per minute (minute number → count), and the checks in progress (hold id → when taken, ms). */
export interface LoginCount {
  minutes: Record<string, number>;
  holds: Record<string, number>;
}

export interface LoginHoldOptions {
  id: string;
  now: number;
  max: number;
  windowMs: number;
  /** Holds older than this no longer count (their process died). */
  holdMs: number;
}

export interface LoginHoldEnd {
  id: string;
  /** Counted as a failure (a wrong password on an account that exists), or only removed. */
  keep: boolean;
  now: number;
  windowMs: number;
  /** Other holds older than this are removed too. */
  holdMs: number;
}

/**
 * The per-account login limit, kept where every process that checks passwords sees it
 * (the Azure shape; core/rate-limit.ts: SharedAccountFailures, whose arithmetic is
 * holdInWindow and endHoldInWindow). Each call is one atomic step on the key's
 * LoginCount: any number of processes at once never hold more places than the limit.
 */
export interface LoginCounter {
  /** A place for check `id`, if the failures and the holds leave one (`busy`: not now; `locked`: not until `waitMs`). */
  holdLogin(key: string, opts: LoginHoldOptions): Promise<{ outcome: 'held' | 'busy' | 'locked'; waitMs: number }>;
  /** Ends check `id`'s hold (kept as a failure or not); a hold not there changes nothing; a key left empty is removed. */
  endLoginHold(key: string, opts: LoginHoldEnd): Promise<void>;
}

export interface MessageQuery {
  /** Null: every folder of the user (search). */
  mailboxId: string | null;
  limit: number;
  cursor?: string | null;
  unread?: boolean;
  flagged?: boolean;
  /** Words that must all occur (as prefixes) in the subject, the people, or the start of the body (the body may become searchable a moment after filing). */
  q?: string;
}

/** A copy to file: a stored message before it has an id and flags (`seen` for a sender's own copy in Sent). */
export type NewMessage = Omit<StoredMessage, 'id' | 'seen' | 'flagged'> & { seen?: boolean };

/** Raw messages and attachments. `get` of a missing key is `null` in every adapter. */
export interface BlobStore {
  /**
   * Stores the bytes under `key`, durably, before resolving. The source is streamed,
   * never held whole. If the source errors, nothing is left under the key.
   */
  put(key: string, source: AsyncIterable<Uint8Array> | Uint8Array): Promise<{ size: number }>;
  get(key: string): Promise<Readable | null>;
  /** Whole contents; for small objects (tests, parsing on read). */
  getBuffer(key: string): Promise<Buffer | null>;
  stat(key: string): Promise<{ size: number } | null>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every stored blob (under `prefix`), in key order, fetched a page at a time: the orphan sweeper walks it. */
  list(prefix?: string): AsyncIterable<BlobInfo>;
  /**
   * Removes what uploads that never completed left behind, older than `olderThan`
   * (epoch ms): the data folder's temporary files. Blob Storage discards uncommitted
   * blocks by itself (after a week), so there it finds nothing. With `dryRun` it only counts.
   */
  removeUnfinished(opts: { olderThan: number; dryRun: boolean }): Promise<{ count: number; bytes: number }>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface BlobInfo {
  key: string;
  size: number;
  /** When it was last written (epoch ms). */
  lastModified: number;
}

/** The producer side of a queue: all the SMTP edge and the HTTP API need (Service Bus in Azure). */
export interface QueueSender<T> {
  /**
   * Durable once resolved; idempotent on the message id (duplicate detection).
   * Rejects with TemporaryFailure whose `outcome` is `not-done` only when the message
   * surely was not queued; otherwise (`unknown`, or not said) it may have been.
   * `notBefore` (epoch ms) schedules it: no receiver sees it earlier (Service Bus's scheduled enqueue time).
   * The body must not be changed after: a queue may hand the object itself to its first receiver
   * (the local inbound queue does, adapters/embedded/sqlite-queue.ts handOff).
   */
  send(id: string, body: T, opts?: { notBefore?: number }): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Looking at a queue without taking anything from it (Service Bus's peek): what
 * the orphan sweeper needs to know which blobs waiting messages still refer to.
 */
export interface QueueBrowser<T> {
  /** Every live message's body (waiting or locked, not dead-lettered), oldest first, a page at a time. */
  browse(): AsyncIterable<T>;
}

export interface QueueDelivery<T> {
  /** The message id given at send; the same across redeliveries. */
  id: string;
  body: T;
  /** How many times it has been handed out, this time included. */
  deliveryCount: number;
  /** Proof of the current lock; complete/abandon with a stale token are ignored. */
  lockToken: string;
}

/**
 * At-least-once queue with peek-lock semantics (Service Bus's model): a received
 * message is invisible until completed, abandoned, or its lock expires. After
 * `maxDeliveries` receipts it is dead-lettered instead of handed out again.
 * `send` is idempotent on the message id (duplicate detection).
 */
export interface Queue<T> extends QueueSender<T>, QueueBrowser<T> {
  receive(max: number): Promise<QueueDelivery<T>[]>;
  complete(delivery: QueueDelivery<T>): Promise<void>;
  abandon(delivery: QueueDelivery<T>, opts?: { retryInMs?: number; error?: string }): Promise<void>;
  deadLetter(delivery: QueueDelivery<T>, reason: string): Promise<void>;
  listDeadLetters(): Promise<Array<{ id: string; reason: string; deliveryCount: number }>>;
  /** Messages waiting or locked (not dead-lettered). */
  depth(): Promise<number>;
  /** Called after a successful send, so a worker in the same process can wake at once. */
  onSend?(listener: () => void): void;
}

/** What one delivery attempt did for one recipient. */
export interface DeliveryOutcome {
  recipient: string;
  /**
   * sent: the next hop took it. temporary: try again later (4xx, network, timeout, 429/5xx).
   * permanent: it will never work (5xx reply, 400/413): bounce. held: no transport is configured.
   * misconfigured: our own setup is wrong (a rejected key or relay login): keep it deferred, never bounce.
   */
  outcome: 'sent' | 'temporary' | 'permanent' | 'held' | 'misconfigured';
  /** The remote reply or the error, for the sender to read. */
  detail: string;
  /** The next hop asked to wait at least this long (SendGrid's X-RateLimit-Reset). */
  retryAfterMs?: number;
}

/**
 * How mail for foreign recipients leaves: an SMTP relay, SendGrid, or nowhere.
 * Every adapter passes adapters/contract/outbound-transport.contract.ts.
 */
export interface OutboundTransport {
  readonly name: 'none' | 'smtp' | 'sendgrid';
  /** Hands one message to the next hop for these recipients; never throws for a delivery fault (it is an outcome). */
  send(input: { mailFrom: string; recipients: string[]; raw: Buffer }): Promise<DeliveryOutcome[]>;
  /** For /api/health: 'none' when nothing is configured, 'misconfigured' after the next hop refused our credentials. */
  health(): { status: 'ok' | 'none' | 'misconfigured'; detail: string | null };
  close(): Promise<void>;
}
