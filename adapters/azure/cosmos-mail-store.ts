import { createHash } from 'node:crypto';
import { CosmosClient, type Container, type ItemDefinition, type SqlParameter } from '@azure/cosmos';
import type { TokenCredential } from '@azure/identity';
import { normalizeAddress } from '../../core/address';
import { isDraftFileKey } from '../../core/blob-keys';
import { decodeCursor, encodeCursor } from '../../core/cursor';
import { newDomain } from '../../core/domain-schedule';
import { mergeDelivery } from '../../core/delivery';
import { MailError, isMailError } from '../../core/errors';
import { deterministicId, newId } from '../../core/ids';
import type { LoginCounter, LoginHoldEnd, LoginHoldOptions, MailStore, MessageQuery, NewMessage, SendCounter } from '../../core/ports';
import { countInWindow, endHoldInWindow, holdInWindow, loginFailuresKey } from '../../core/rate-limit';
import { queryWords, searchTerms } from '../../core/search';
import { DEFAULT_MAILBOXES, type DeliveryStatus, type DkimKey, type Domain, type DomainCheckState, type SendgridDomainAuth, type Draft, type DraftAttachment, type DraftFields, type Mailbox, type MessageSummary, type Page, type Role, type SpecialUse, type StoredMessage, type User, type UserSession, type UserWithSecret } from '../../core/types';
import { COSMOS_CONTAINERS, containerRequest } from './cosmos-containers';
import { DEFAULT_RETRY, type RetryOptions, statusOf, withRetry } from './retry';

/**
 * MailStore on Cosmos DB (NoSQL API).
 *
 * Two containers:
 * - `directory`, partition key `/id`: one small document per domain, address and
 *   user, read by point reads (the SMTP edge's RCPT lookups cost 1 RU each). Address
 *   uniqueness is the uniqueness of the document id. Also each sender's count for the
 *   hourly send limit (SendCounter), shared by the Functions instances and the edge,
 *   and each account's login count (LoginCounter: failures and checks in progress).
 * - `mail`, partition key `/userId`: a user's folders, folder-name claims and
 *   messages share one logical partition, so every mailbox query is single-partition
 *   and a message read is a point read by (id, userId); another user's id simply is
 *   not in the partition. The list orders are served by composite indexes; the
 *   summary, auth results and draft fields are not indexed (they are only read back).
 *
 * Filing is idempotent: a copy's id is derived from (user, inbound id), so a
 * redelivered message meets its own document (409) instead of a second copy.
 * Folder counters are incremented with single-document patch operations; a message
 * carries `uncounted` until its folder has counted it, so a retry after a fault
 * between the two writes completes the count instead of losing it.
 * Moves and flag changes replace the message under its etag (412 → re-read, retry).
 * Every call is retried on 429/503 and dropped connections (./retry.ts).
 *
 * The containers are defined once, in ./cosmos-containers.ts. With a key (the emulator,
 * hand-made accounts) the store creates them when missing; with a token credential
 * (managed identity) it only checks that they exist: Cosmos DB's data-plane roles cannot
 * create databases or containers, so infra/ deploys them from the same definition.
 */

const DIRECTORY = 'directory';
/** Tries of a count (send limit, login) that keeps meeting concurrent changes of the same document (changeCount). */
const CONTENDED_TRIES = 12;
const MAIL = 'mail';

interface UserDoc extends ItemDefinition {
  id: string;
  type: 'user';
  userId: string;
  email: string;
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: number;
  /** Raised by a password change: tokens carrying a lower version are refused. */
  tokenVersion?: number;
  /** Signed-out tokens until they expire (epoch ms); expired ones are dropped on the next sign-out. */
  revokedTokens?: Array<{ id: string; exp: number }>;
  /** Set while the user is being deleted: an admin marked so no longer counts as one (see deleteUser). */
  deleting?: boolean;
}

interface AddressDoc extends ItemDefinition {
  id: string;
  type: 'address';
  address: string;
  userId: string;
}

/**
 * SendCounter: a sender's messages per minute (minute number since the epoch → count), the
 * minutes of the last window only. LoginCounter: an account's wrong passwords, the same way,
 * and its checks in progress (`holds`).
 */
interface SendCountDoc extends ItemDefinition {
  id: string;
  type: 'sendCount';
  minutes: Record<string, number>;
  holds?: Record<string, number>;
}

/** A domain; documents written before DNS checks existed lack the check fields (read as a pending domain due now). */
interface DomainDoc extends ItemDefinition, Partial<Omit<Domain, 'name' | 'createdAt'>> {
  id: string;
  type: 'domain';
  name: string;
  createdAt: number;
  /** Who is checking the domain's DNS now, until when (claimDomainCheck). */
  checkClaim?: string | null;
  checkClaimUntil?: number | null;
}

function toDomain(doc: DomainDoc): Domain {
  return {
    name: doc.name,
    createdAt: doc.createdAt,
    dkim: doc.dkim ?? null,
    sendgrid: doc.sendgrid ?? null,
    status: doc.status ?? 'pending',
    reason: doc.reason ?? null,
    records: doc.records ?? [],
    attempts: doc.attempts ?? 0,
    lastCheckedAt: doc.lastCheckedAt ?? null,
    nextCheckAt: doc.nextCheckAt === undefined ? doc.createdAt : doc.nextCheckAt,
  };
}

function domainDoc(domain: Domain): DomainDoc {
  return { id: domainKey(domain.name), type: 'domain', ...domain };
}

interface MailboxDoc extends ItemDefinition {
  id: string;
  type: 'mailbox';
  userId: string;
  name: string;
  specialUse: SpecialUse | null;
  total: number;
  unread: number;
  createdAt: number;
  order: number;
}

interface MessageDoc extends ItemDefinition, StoredMessage {
  id: string;
  type: 'message';
  /** Lower-cased, diacritic-free words for search (core/search.ts). */
  terms: string[];
  /** A draft's fields, files and version (absent in drafts saved before versions: version 1). */
  draft?: { fields: DraftFields; attachments: DraftAttachment[]; version?: number };
  /** Set until the folder counters include this message. */
  uncounted?: boolean;
}

/** Cosmos ids may not hold / \ ? #. */
const userKey = (id: string) => `user~${id}`;
const addressKey = (address: string) => `address~${encodeURIComponent(address)}`;
const domainKey = (name: string) => `domain~${encodeURIComponent(name)}`;
const sendCountKey = (userId: string) => `sends~${userId}`;
const nameClaimKey = (name: string) => `name~${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;

function toUser(doc: UserDoc): User {
  return { id: doc.userId, email: doc.email, name: doc.name, role: doc.role, createdAt: doc.createdAt };
}

function toMailbox(doc: MailboxDoc): Mailbox {
  return { id: doc.id, userId: doc.userId, name: doc.name, specialUse: doc.specialUse, total: doc.total, unread: doc.unread };
}

function toMessage(doc: MessageDoc): StoredMessage {
  const message: StoredMessage = {
    id: doc.id,
    userId: doc.userId,
    mailboxId: doc.mailboxId,
    inboundId: doc.inboundId,
    rawBlobKey: doc.rawBlobKey,
    size: doc.size,
    receivedAt: doc.receivedAt,
    seen: doc.seen,
    flagged: doc.flagged,
    summary: doc.summary,
    auth: doc.auth,
    rawPrefix: doc.rawPrefix ?? null,
  };
  if (doc.delivery) message.delivery = doc.delivery;
  return message;
}

function isConflict(err: unknown): boolean {
  return statusOf(err) === 409;
}

/** createIfNotExists reads, then creates: another process creating the same between the two is a 409, and reading again finds it. */
async function existing<T>(createIfNotExists: () => Promise<T>): Promise<T> {
  try {
    return await createIfNotExists();
  } catch (err) {
    if (!isConflict(err)) throw err;
    return createIfNotExists();
  }
}

export interface CosmosMailStoreOptions {
  endpoint: string;
  /** Exactly one of `key` (account key) and `credential` (Microsoft Entra token, e.g. DefaultAzureCredential). */
  key?: string;
  credential?: TokenCredential;
  database: string;
  retry?: RetryOptions;
  /** Parallel writes per call (filing a batch, deleting a user). */
  concurrency?: number;
}

export class CosmosMailStore implements MailStore, SendCounter, LoginCounter {
  private readonly client: CosmosClient;
  private readonly retry: RetryOptions;
  private readonly concurrency: number;
  private ready: Promise<{ directory: Container; mail: Container }> | null = null;
  /** `userId/specialUse` → folder id: fixed for the user's life, so asked of Cosmos DB once per process (bounded). */
  private readonly specialIds = new Map<string, string>();

  constructor(private readonly opts: CosmosMailStoreOptions) {
    if ((opts.key === undefined) === (opts.credential === undefined)) throw new Error('CosmosMailStore needs either a key or a token credential');
    this.client = new CosmosClient({
      endpoint: opts.endpoint,
      ...(opts.key !== undefined ? { key: opts.key } : { aadCredentials: opts.credential }),
      // one region, one gateway: no discovery round trips (and the emulator has none)
      connectionPolicy: { enableEndpointDiscovery: false, retryOptions: { maxRetryAttemptCount: 0, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 0 } },
    });
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.concurrency = opts.concurrency ?? 8;
  }

  /** The database and containers: created when missing with a key (a fresh emulator), checked with a token (Bicep creates them in Azure). */
  private containers(): Promise<{ directory: Container; mail: Container }> {
    if (!this.ready) {
      this.ready = this.call('open containers', () => (this.opts.key !== undefined ? this.createContainers() : this.findContainers()));
      this.ready.catch(() => (this.ready = null));
    }
    return this.ready;
  }

  private async createContainers() {
    const { database } = await existing(() => this.client.databases.createIfNotExists({ id: this.opts.database }));
    const made = new Map<string, Container>();
    for (const def of COSMOS_CONTAINERS) made.set(def.id, (await existing(() => database.containers.createIfNotExists(containerRequest(def)))).container);
    return { directory: made.get(DIRECTORY)!, mail: made.get(MAIL)! };
  }

  private async findContainers() {
    const database = this.client.database(this.opts.database);
    for (const def of COSMOS_CONTAINERS) {
      try {
        await database.container(def.id).read();
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
        throw new Error(`Cosmos DB container ${this.opts.database}/${def.id} does not exist: infra/ creates it (azd provision); a managed identity cannot`, { cause: err });
      }
    }
    return { directory: database.container(DIRECTORY), mail: database.container(MAIL) };
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(what, fn, this.retry);
  }

  private async read<T extends ItemDefinition>(container: Container, id: string, partitionKey: string): Promise<(T & { _etag: string }) | null> {
    const { resource } = await this.call('read', () => container.item(id, partitionKey).read<T>());
    return (resource as (T & { _etag: string }) | undefined) ?? null;
  }

  /** With `partitionKey`, the query must filter on it too (`c.userId = @u`): the emulator ignores the option, Cosmos DB uses it to route. */
  private async query<T>(container: Container, query: string, parameters: SqlParameter[], partitionKey?: string): Promise<T[]> {
    const { resources } = await this.call('query', () => container.items.query<T>({ query, parameters }, partitionKey === undefined ? {} : { partitionKey }).fetchAll());
    return resources;
  }

  private async remove(container: Container, id: string, partitionKey: string): Promise<void> {
    await this.call('delete', async () => {
      try {
        await container.item(id, partitionKey).delete();
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    });
  }

  /**
   * Runs `fn` on pages of the user's documents matching `where` until none match:
   * `fn` must make them stop matching (delete or move them). Bounded memory for any
   * mailbox size, and no continuation to go stale while the set shrinks.
   */
  private async drain(userId: string, where: string, parameters: SqlParameter[], fn: (page: Array<MessageDoc & { _etag: string }>) => Promise<unknown>): Promise<void> {
    const { mail } = await this.containers();
    for (;;) {
      const page = await this.query<MessageDoc & { _etag: string }>(mail, `SELECT TOP 100 * FROM c WHERE c.userId = @u AND ${where}`, [{ name: '@u', value: userId }, ...parameters], userId);
      if (!page.length) return;
      await fn(page);
    }
  }

  /** Creates a document; false when the id exists already. */
  private async createOnce(container: Container, doc: ItemDefinition): Promise<boolean> {
    return this.call('create', async () => {
      try {
        await container.items.create(doc);
        return true;
      } catch (err) {
        if (isConflict(err)) return false;
        throw err;
      }
    });
  }

  private async adjustCounts(userId: string, mailboxId: string, total: number, unread: number): Promise<void> {
    if (!total && !unread) return;
    const { mail } = await this.containers();
    await this.call('count', async () => {
      try {
        await mail.item(mailboxId, userId).patch([
          { op: 'incr', path: '/total', value: total },
          { op: 'incr', path: '/unread', value: unread },
        ]);
      } catch (err) {
        if (statusOf(err) !== 404) throw err; // the folder is gone (deleted with its user)
      }
    });
  }

  private async parallel<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
    const out: R[] = new Array(items.length);
    let next = 0;
    const run = async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, run));
    return out;
  }

  // ---- domains and users -------------------------------------------------

  async setup(input: { domain: string; email: string; name: string; passwordHash: string; dkim?: DkimKey | null }): Promise<User> {
    const { directory } = await this.containers();
    if ((await this.countUsers()) > 0) throw new MailError('AlreadySetUp');
    if (!(await this.createOnce(directory, { id: 'setup', type: 'setup', at: Date.now() }))) throw new MailError('AlreadySetUp');
    await this.createOnce(directory, domainDoc(newDomain(input.domain, Date.now(), { dkim: input.dkim })));
    return this.createUser({ email: input.email, name: input.name, passwordHash: input.passwordHash, role: 'admin' });
  }

  async countUsers(): Promise<number> {
    const { directory } = await this.containers();
    const [n] = await this.query<number>(directory, "SELECT VALUE COUNT(1) FROM c WHERE c.type = 'user'", []);
    return n ?? 0;
  }

  async createDomain(name: string, init?: { dkim?: DkimKey | null; sendgrid?: SendgridDomainAuth | null; nextCheckAt?: number; createdAt?: number }): Promise<Domain> {
    const { directory } = await this.containers();
    const domain = newDomain(name, init?.createdAt ?? Date.now(), init);
    if (!(await this.createOnce(directory, domainDoc(domain)))) throw new MailError('Conflict', `Domain already exists: ${domain.name}`);
    return domain;
  }

  async getDomain(name: string): Promise<Domain | null> {
    const { directory } = await this.containers();
    const doc = await this.read<DomainDoc>(directory, domainKey(name.toLowerCase()), domainKey(name.toLowerCase()));
    return doc ? toDomain(doc) : null;
  }

  async listDomains(): Promise<Domain[]> {
    const { directory } = await this.containers();
    const docs = await this.query<DomainDoc>(directory, "SELECT * FROM c WHERE c.type = 'domain'", []);
    return docs.map(toDomain).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Read-modify-write of a domain document under its etag (412: re-read and try
   * again), so a check's result, a key and a claim never overwrite each other.
   * `change` returns the new document, or a value to return without writing.
   */
  private async updateDomain<R>(name: string, change: (doc: DomainDoc) => { write: DomainDoc; result: R } | { result: R }, missing: () => R): Promise<R> {
    const { directory } = await this.containers();
    const id = domainKey(name.toLowerCase());
    for (let attempt = 0; ; attempt++) {
      const doc = await this.read<DomainDoc>(directory, id, id);
      if (!doc) return missing();
      const next = change(doc);
      if (!('write' in next)) return next.result;
      try {
        await this.call('update domain', () => directory.item(id, id).replace(next.write, { accessCondition: { type: 'IfMatch', condition: doc._etag } }));
        return next.result;
      } catch (err) {
        if (statusOf(err) === 404) return missing();
        if (statusOf(err) !== 412 || attempt >= 10) throw err;
      }
    }
  }

  async setDomainDkim(name: string, key: DkimKey): Promise<void> {
    await this.updateDomain(name, (doc) => ({ write: { ...doc, dkim: key }, result: undefined }), () => {
      throw new MailError('NotFound', `Domain not found: ${name}`);
    });
  }

  async setDomainSendgrid(name: string, auth: SendgridDomainAuth | null): Promise<void> {
    await this.updateDomain(name, (doc) => ({ write: { ...doc, sendgrid: auth }, result: undefined }), () => {
      throw new MailError('NotFound', `Domain not found: ${name}`);
    });
  }

  async claimDomainCheck(name: string, token: string, now: number, until: number): Promise<'claimed' | 'busy' | 'missing'> {
    return this.updateDomain<'claimed' | 'busy' | 'missing'>(
      name,
      (doc) => (doc.checkClaim && doc.checkClaim !== token && (doc.checkClaimUntil ?? 0) > now ? { result: 'busy' } : { write: { ...doc, checkClaim: token, checkClaimUntil: until }, result: 'claimed' }),
      () => 'missing',
    );
  }

  async saveDomainCheck(name: string, token: string, state: DomainCheckState): Promise<Domain> {
    return this.updateDomain(
      name,
      (doc) => {
        const mine = doc.checkClaim === token;
        const write: DomainDoc = { ...doc, ...state, checkClaim: mine ? null : doc.checkClaim, checkClaimUntil: mine ? null : doc.checkClaimUntil };
        return { write, result: toDomain(write) };
      },
      () => {
        throw new MailError('NotFound', `Domain not found: ${name}`);
      },
    );
  }

  async releaseDomainCheck(name: string, token: string): Promise<void> {
    await this.updateDomain(name, (doc) => (doc.checkClaim === token ? { write: { ...doc, checkClaim: null, checkClaimUntil: null }, result: undefined } : { result: undefined }), () => undefined);
  }

  /** Refuses while addresses are on the domain. A user created on it at the very same moment may still slip in (no cross-document transaction). */
  async deleteDomain(name: string): Promise<void> {
    const { directory } = await this.containers();
    const domain = name.toLowerCase();
    if (!(await this.getDomain(domain))) throw new MailError('NotFound', `Domain not found: ${domain}`);
    const [n] = await this.query<number>(directory, "SELECT VALUE COUNT(1) FROM c WHERE c.type = 'address' AND ENDSWITH(c.address, @suffix)", [{ name: '@suffix', value: `@${domain}` }]);
    if (n) throw new MailError('Conflict', `${domain} still has ${n} address${n === 1 ? '' : 'es'} (users or aliases): remove them first`, { details: { addresses: n } });
    await this.remove(directory, domainKey(domain), domainKey(domain));
  }

  /** The address document is the uniqueness claim: it is written first and undone if the rest fails. */
  async createUser(input: { email: string; name: string; passwordHash: string; role: Role }): Promise<User> {
    const { directory, mail } = await this.containers();
    const email = normalizeAddress(input.email);
    const now = Date.now();
    const id = newId(now);
    if (!(await this.createOnce(directory, { id: addressKey(email), type: 'address', address: email, userId: id } satisfies AddressDoc))) {
      throw new MailError('Conflict', `Address already in use: ${email}`);
    }
    try {
      await this.parallel([...DEFAULT_MAILBOXES.entries()], async ([order, box]) => {
        const mailbox: MailboxDoc = { id: newId(now), type: 'mailbox', userId: id, name: box.name, specialUse: box.specialUse, total: 0, unread: 0, createdAt: now, order };
        await this.createOnce(mail, { id: nameClaimKey(box.name), type: 'mailboxName', userId: id, mailboxId: mailbox.id });
        await this.createOnce(mail, mailbox);
      });
      // the user document last: a user exists only once everything it needs does
      const doc: UserDoc = { id: userKey(id), type: 'user', userId: id, email, name: input.name, role: input.role, passwordHash: input.passwordHash, createdAt: now };
      await this.createOnce(directory, doc);
      return toUser(doc);
    } catch (err) {
      await this.remove(directory, addressKey(email), addressKey(email)).catch(() => undefined);
      throw err;
    }
  }

  private async userDoc(id: string): Promise<(UserDoc & { _etag: string }) | null> {
    const { directory } = await this.containers();
    return this.read<UserDoc>(directory, userKey(id), userKey(id));
  }

  async getUserByEmail(email: string): Promise<UserWithSecret | null> {
    const hit = await this.resolveAddress(email);
    const doc = hit && (await this.userDoc(hit.userId));
    return doc && doc.email === normalizeAddress(email) ? { ...toUser(doc), passwordHash: doc.passwordHash, tokenVersion: doc.tokenVersion ?? 0 } : null;
  }

  async getUserSession(id: string): Promise<UserSession | null> {
    const doc = await this.userDoc(id);
    if (!doc) return null;
    const now = Date.now();
    return { ...toUser(doc), tokenVersion: doc.tokenVersion ?? 0, revokedTokenIds: (doc.revokedTokens ?? []).filter((t) => t.exp > now).map((t) => t.id) };
  }

  /** Read, change, replace under the etag; a concurrent change (412) is re-read and applied again. */
  private async updateUserDoc(userId: string, change: (doc: UserDoc) => UserDoc): Promise<UserDoc> {
    const { directory } = await this.containers();
    for (let attempt = 1; ; attempt++) {
      const doc = await this.userDoc(userId);
      if (!doc) throw new MailError('NotFound', 'User not found');
      const next = change(doc);
      try {
        await this.call('update user', () => directory.item(doc.id, doc.id).replace(next, { accessCondition: { type: 'IfMatch', condition: doc._etag } }));
        return next;
      } catch (err) {
        if (statusOf(err) !== 412 || attempt >= 10) throw err;
      }
    }
  }

  /**
   * SendCounter: the sender's document is read (a look costs 1 operation), and to
   * count, replaced under its etag or created (1 more). A write that timed out but
   * landed, tried again, meets its own etag change and counts again: too many, never
   * too few.
   */
  async countSend(sender: string, opts: { now: number; max: number; windowMs: number; take: number }): Promise<{ taken: number; waitMs: number }> {
    return this.changeCount(sendCountKey(sender), (doc) => {
      const { minutes, taken, waitMs } = countInWindow(doc?.minutes ?? {}, opts);
      return { write: taken ? { minutes } : undefined, result: { taken, waitMs } };
    });
  }

  /** LoginCounter: a read, and a create or replace when the hold is added (2 operations). Sent again after it landed, it finds its hold there. */
  async holdLogin(key: string, opts: LoginHoldOptions): Promise<{ outcome: 'held' | 'busy' | 'locked'; waitMs: number }> {
    return this.changeCount(sendCountKey(key), (doc) => {
      const { next, outcome, waitMs } = holdInWindow(doc, opts);
      return { write: outcome === 'held' ? next : undefined, result: { outcome: outcome === 'already' ? 'held' : outcome, waitMs } };
    });
  }

  /** LoginCounter: a read, and a replace, or a delete when the count is left empty (2 operations); a hold not there (ended already) is left alone. */
  async endLoginHold(key: string, opts: LoginHoldEnd): Promise<void> {
    return this.changeCount(sendCountKey(key), (doc) => {
      const next = endHoldInWindow(doc, opts);
      const empty = next && !Object.keys(next.minutes).length && !Object.keys(next.holds).length;
      return { write: empty ? 'delete' : (next ?? undefined), result: undefined };
    });
  }

  /**
   * One atomic step on a count document (SendCounter, LoginCounter): read it, `decide`
   * what to write, and create it, replace it under its etag, or delete it under its
   * etag. A concurrent change (412, or 409 on a create, 404 on a document removed
   * meanwhile) makes it read and decide again, after a growing random pause, so
   * changes from any number of processes never pass a limit together. Still contended
   * after CONTENDED_TRIES, or any other fault: TemporaryFailure (503 / 451: the client
   * tries again later).
   */
  private async changeCount<T>(id: string, decide: (doc: (SendCountDoc & { _etag: string }) | undefined) => { write: Pick<SendCountDoc, 'minutes' | 'holds'> | 'delete' | undefined; result: T }): Promise<T> {
    try {
      const { directory } = await this.containers();
      for (let attempt = 1; ; attempt++) {
        const doc = (await this.read<SendCountDoc>(directory, id, id)) ?? undefined;
        const { write, result } = decide(doc);
        if (!write || (write === 'delete' && !doc)) return result;
        try {
          const onlyIf = doc && { accessCondition: { type: 'IfMatch', condition: doc._etag } };
          if (write === 'delete') await this.call('count', () => directory.item(id, id).delete(onlyIf));
          else {
            const next: SendCountDoc = { id, type: 'sendCount', ...write };
            if (doc) await this.call('count', () => directory.item(id, id).replace(next, onlyIf));
            else await this.call('count', () => directory.items.create(next));
          }
          return result;
        } catch (err) {
          if (![404, 409, 412].includes(statusOf(err) ?? 0)) throw err;
          if (attempt >= CONTENDED_TRIES) throw new MailError('TemporaryFailure', 'count contended', { cause: err });
          await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(500, 10 * 2 ** attempt)));
        }
      }
    } catch (err) {
      throw isMailError(err) ? err : new MailError('TemporaryFailure', 'count unavailable', { cause: err });
    }
  }

  async revokeToken(userId: string, tokenId: string, expiresAt: number): Promise<void> {
    const now = Date.now();
    await this.updateUserDoc(userId, (doc) => ({
      ...doc,
      revokedTokens: [...(doc.revokedTokens ?? []).filter((t) => t.exp > now && t.id !== tokenId), { id: tokenId, exp: expiresAt }],
    }));
  }

  async getUserById(id: string): Promise<User | null> {
    const doc = await this.userDoc(id);
    return doc ? toUser(doc) : null;
  }

  async resolveAddress(address: string): Promise<{ userId: string } | null> {
    const { directory } = await this.containers();
    const key = addressKey(normalizeAddress(address));
    const doc = await this.read<AddressDoc>(directory, key, key);
    return doc ? { userId: doc.userId } : null;
  }

  async listUsers(): Promise<Array<User & { aliases: string[] }>> {
    const { directory } = await this.containers();
    const users = (await this.query<UserDoc>(directory, "SELECT * FROM c WHERE c.type = 'user'", [])).map(toUser);
    const addresses = await this.query<AddressDoc>(directory, "SELECT * FROM c WHERE c.type = 'address'", []);
    const emails = new Set(users.map((u) => u.email));
    return users
      .sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0))
      .map((u) => ({ ...u, aliases: addresses.filter((a) => a.userId === u.id && !emails.has(a.address)).map((a) => a.address).sort() }));
  }

  async setPasswordHash(userId: string, passwordHash: string): Promise<{ tokenVersion: number }> {
    const doc = await this.updateUserDoc(userId, (d) => ({ ...d, passwordHash, tokenVersion: (d.tokenVersion ?? 0) + 1 }));
    return { tokenVersion: doc.tokenVersion! };
  }

  /** Stops delivery first (addresses), then removes messages, folders, the send and login-failure counts and the user; a retry after a fault picks up where it stopped. */
  async deleteUser(userId: string): Promise<{ orphanedBlobKeys: string[] }> {
    const { directory, mail } = await this.containers();
    const user = await this.userDoc(userId);
    if (!user) throw new MailError('NotFound', 'User not found');
    if (user.role === 'admin') await this.claimAdminDeletion(userId);
    for (const key of this.specialIds.keys()) if (key.startsWith(`${userId}/`)) this.specialIds.delete(key);
    const addresses = await this.query<AddressDoc>(directory, "SELECT * FROM c WHERE c.type = 'address' AND c.userId = @u", [{ name: '@u', value: userId }]);
    await this.parallel(addresses, (a) => this.remove(directory, a.id, a.id));
    const orphaned: string[] = [];
    // a page at a time: a mailbox of millions never sits in memory (each page is gone before the next query)
    await this.drain(userId, "c.type = 'message'", [], async (page) => {
      orphaned.push(...(await this.removeMessages(userId, page, { count: false })));
    });
    await this.drain(userId, 'true', [], (page) => this.parallel(page, (d) => this.remove(mail, d.id, userId)));
    for (const key of [sendCountKey(userId), sendCountKey(loginFailuresKey(user.email))]) await this.remove(directory, key, key);
    await this.remove(directory, user.id, user.id);
    return { orphanedBlobKeys: [...new Set(orphaned)] };
  }

  /**
   * An admin is marked `deleting` first, then the admins not so marked are counted:
   * of two admins deleting each other at once, the second to count sees the first's
   * mark, so at most one deletion passes and an admin always remains. When both
   * marked before either counted, both step back and try again after a random pause,
   * so one of them goes through. (Across Functions instances this relies on the
   * account's consistency level reading the other's write: Session consistency does
   * not promise it; Strong does.)
   */
  private async claimAdminDeletion(userId: string): Promise<void> {
    const { directory } = await this.containers();
    /** Other admins: all of them, and those on the way out (two simple counts: no IS_DEFINED, which the emulator lacks). */
    const otherAdmins = async () => {
      const count = async (extra: string) =>
        (await this.query<number>(directory, `SELECT VALUE COUNT(1) FROM c WHERE c.type = 'user' AND c.role = 'admin' AND c.id != @id${extra}`, [{ name: '@id', value: userKey(userId) }]))[0] ?? 0;
      const [all, leaving] = await Promise.all([count(''), count(' AND c.deleting = true')]);
      return { staying: all - leaving, leaving };
    };
    for (let attempt = 1; attempt <= 5; attempt++) {
      await this.updateUserDoc(userId, (d) => ({ ...d, deleting: true }));
      if ((await otherAdmins()).staying > 0) return;
      await this.updateUserDoc(userId, (d) => ({ ...d, deleting: false }));
      const others = await otherAdmins();
      if (others.staying + others.leaving === 0) break; // no other admin at all: this is the last one
      await new Promise((r) => setTimeout(r, attempt * (30 + Math.random() * 120)));
    }
    throw new MailError('LastAdmin');
  }

  async addAlias(userId: string, address: string): Promise<void> {
    const { directory } = await this.containers();
    if (!(await this.userDoc(userId))) throw new MailError('NotFound', 'User not found');
    const normalized = normalizeAddress(address);
    if (!(await this.createOnce(directory, { id: addressKey(normalized), type: 'address', address: normalized, userId } satisfies AddressDoc))) {
      throw new MailError('Conflict', `Address already in use: ${normalized}`);
    }
  }

  async removeAlias(userId: string, address: string): Promise<void> {
    const { directory } = await this.containers();
    const normalized = normalizeAddress(address);
    const user = await this.userDoc(userId);
    const doc = await this.read<AddressDoc>(directory, addressKey(normalized), addressKey(normalized));
    if (!user || !doc || doc.userId !== userId || user.email === normalized) throw new MailError('NotFound', 'Alias not found');
    await this.remove(directory, doc.id, doc.id);
  }

  async listAliases(userId: string): Promise<string[]> {
    const { directory } = await this.containers();
    const user = await this.userDoc(userId);
    const docs = await this.query<AddressDoc>(directory, "SELECT * FROM c WHERE c.type = 'address' AND c.userId = @u", [{ name: '@u', value: userId }]);
    return docs.map((d) => d.address).filter((a) => a !== user?.email).sort();
  }

  // ---- folders ----------------------------------------------------------

  private async mailboxDocs(userId: string): Promise<MailboxDoc[]> {
    const { mail } = await this.containers();
    const docs = await this.query<MailboxDoc>(mail, "SELECT * FROM c WHERE c.userId = @u AND c.type = 'mailbox'", [{ name: '@u', value: userId }], userId);
    return docs.sort((a, b) => a.createdAt - b.createdAt || a.order - b.order || (a.id < b.id ? -1 : 1));
  }

  private async mailboxDoc(userId: string, mailboxId: string): Promise<(MailboxDoc & { _etag: string }) | null> {
    const { mail } = await this.containers();
    const doc = await this.read<MailboxDoc>(mail, mailboxId, userId);
    return doc?.type === 'mailbox' ? doc : null;
  }

  async listMailboxes(userId: string): Promise<Mailbox[]> {
    return (await this.mailboxDocs(userId)).map(toMailbox);
  }

  async getMailbox(userId: string, mailboxId: string): Promise<Mailbox | null> {
    const doc = await this.mailboxDoc(userId, mailboxId);
    return doc ? toMailbox(doc) : null;
  }

  async findMailboxBySpecialUse(userId: string, specialUse: SpecialUse): Promise<Mailbox | null> {
    const { mail } = await this.containers();
    const [doc] = await this.query<MailboxDoc>(mail, "SELECT * FROM c WHERE c.userId = @u AND c.type = 'mailbox' AND c.specialUse = @s", [{ name: '@u', value: userId }, { name: '@s', value: specialUse }], userId);
    return doc ? toMailbox(doc) : null;
  }

  async specialMailboxId(userId: string, specialUse: SpecialUse): Promise<string | null> {
    const key = `${userId}/${specialUse}`;
    const known = this.specialIds.get(key);
    if (known) return known;
    const box = await this.findMailboxBySpecialUse(userId, specialUse);
    if (!box) return null;
    if (this.specialIds.size >= 100_000) this.specialIds.clear();
    this.specialIds.set(key, box.id);
    return box.id;
  }

  private async requireSpecialMailboxId(userId: string, specialUse: SpecialUse): Promise<string> {
    const id = await this.specialMailboxId(userId, specialUse);
    if (!id) throw new MailError('TemporaryFailure', `user has no ${specialUse} folder`);
    return id;
  }

  /** Folder names are unique per user through a claim document whose id is derived from the name. */
  private async claimName(userId: string, name: string, mailboxId: string): Promise<void> {
    const { mail } = await this.containers();
    if (await this.createOnce(mail, { id: nameClaimKey(name), type: 'mailboxName', userId, mailboxId })) return;
    const claim = await this.read<{ mailboxId: string }>(mail, nameClaimKey(name), userId);
    // a claim left by a folder that no longer exists (a fault between two writes) is taken over
    if (claim && claim.mailboxId !== mailboxId && (await this.mailboxDoc(userId, claim.mailboxId))) throw new MailError('Conflict', `A folder named "${name}" exists`);
    await this.call('claim name', () => mail.items.upsert({ id: nameClaimKey(name), type: 'mailboxName', userId, mailboxId }));
  }

  async createMailbox(userId: string, name: string): Promise<Mailbox> {
    const { mail } = await this.containers();
    const now = Date.now();
    const doc: MailboxDoc = { id: newId(now), type: 'mailbox', userId, name, specialUse: null, total: 0, unread: 0, createdAt: now, order: DEFAULT_MAILBOXES.length };
    await this.claimName(userId, name, doc.id);
    await this.createOnce(mail, doc);
    return toMailbox(doc);
  }

  async renameMailbox(userId: string, mailboxId: string, name: string): Promise<Mailbox> {
    const { mail } = await this.containers();
    const doc = await this.mailboxDoc(userId, mailboxId);
    if (!doc) throw new MailError('NotFound', 'Mailbox not found');
    if (doc.specialUse) throw new MailError('SpecialMailbox');
    if (doc.name === name) return toMailbox(doc);
    await this.claimName(userId, name, mailboxId);
    await this.call('rename', () => mail.item(mailboxId, userId).patch([{ op: 'set', path: '/name', value: name }]));
    await this.remove(mail, nameClaimKey(doc.name), userId);
    return toMailbox({ ...doc, name });
  }

  async deleteMailbox(userId: string, mailboxId: string, opts: { moveToTrash: boolean }): Promise<void> {
    const { mail } = await this.containers();
    const doc = await this.mailboxDoc(userId, mailboxId);
    if (!doc) throw new MailError('NotFound', 'Mailbox not found');
    if (doc.specialUse) throw new MailError('SpecialMailbox');
    const inFolder = "c.type = 'message' AND c.mailboxId = @m";
    const folder = [{ name: '@m', value: mailboxId }];
    const [count] = await this.query<number>(mail, `SELECT VALUE COUNT(1) FROM c WHERE c.userId = @u AND ${inFolder}`, [{ name: '@u', value: userId }, ...folder], userId);
    if (count && !opts.moveToTrash) throw new MailError('MailboxNotEmpty', `Folder holds ${count} messages; delete with moveToTrash=true to move them to Trash`);
    const trash = await this.requireSpecialMailboxId(userId, 'trash');
    await this.drain(userId, inFolder, folder, (page) => this.parallel(page, (m) => this.patchMessage(m, { mailboxId: trash })));
    await this.remove(mail, mailboxId, userId);
    await this.remove(mail, nameClaimKey(doc.name), userId);
  }

  // ---- messages ---------------------------------------------------------

  private async messageDoc(userId: string, id: string): Promise<(MessageDoc & { _etag: string }) | null> {
    const { mail } = await this.containers();
    const doc = await this.read<MessageDoc>(mail, id, userId);
    return doc?.type === 'message' ? doc : null;
  }

  async fileMessages(items: NewMessage[]): Promise<StoredMessage[]> {
    return this.parallel(items, (item) => this.fileOne(item));
  }

  private async fileOne(item: NewMessage): Promise<StoredMessage> {
    const { mail } = await this.containers();
    const { searchText, ...summary } = item.summary;
    const doc: MessageDoc = {
      id: deterministicId(item.receivedAt, `${item.userId}\n${item.inboundId}`),
      type: 'message',
      userId: item.userId,
      mailboxId: item.mailboxId,
      inboundId: item.inboundId,
      rawBlobKey: item.rawBlobKey,
      size: item.size,
      receivedAt: item.receivedAt,
      seen: item.seen ?? false,
      flagged: false,
      summary,
      auth: item.auth,
      rawPrefix: item.rawPrefix ?? null,
      terms: searchTerms(summary, searchText),
      uncounted: true,
    };
    if (item.delivery) doc.delivery = item.delivery;
    const stored = (await this.createOnce(mail, doc)) ? doc : await this.messageDoc(item.userId, doc.id);
    if (!stored) throw new MailError('TemporaryFailure', 'filed message vanished');
    if (stored.uncounted) {
      await this.adjustCounts(stored.userId, stored.mailboxId, 1, stored.seen ? 0 : 1);
      await this.call('counted', () => mail.item(stored.id, stored.userId).patch([{ op: 'remove', path: '/uncounted' }]));
    }
    return toMessage(stored);
  }

  async listMessages(userId: string, query: MessageQuery): Promise<Page<StoredMessage>> {
    const { mail } = await this.containers();
    const limit = Math.max(1, Math.min(Math.floor(query.limit), 500));
    const after = query.cursor ? decodeCursor(query.cursor) : null;
    const where = ['c.userId = @u', "c.type = 'message'"];
    const parameters: SqlParameter[] = [{ name: '@u', value: userId }];
    if (query.mailboxId) {
      where.push('c.mailboxId = @m');
      parameters.push({ name: '@m', value: query.mailboxId });
    }
    if (query.unread !== undefined) where.push(query.unread ? 'c.seen = false' : 'c.seen = true');
    if (query.flagged !== undefined) where.push(query.flagged ? 'c.flagged = true' : 'c.flagged = false');
    if (after) {
      where.push('(c.receivedAt < @at OR (c.receivedAt = @at AND c.id < @id))');
      parameters.push({ name: '@at', value: after.receivedAt }, { name: '@id', value: after.id });
    }
    if (query.q !== undefined) {
      const words = queryWords(query.q);
      if (!words.length) return { items: [], nextCursor: null };
      words.forEach((word, i) => {
        where.push(`EXISTS(SELECT VALUE t FROM t IN c.terms WHERE STARTSWITH(t, @w${i}))`);
        parameters.push({ name: `@w${i}`, value: word });
      });
    }
    // keyset paging: stable while mail arrives (an offset or a service continuation would shift)
    const order = query.mailboxId ? 'c.mailboxId ASC, c.receivedAt DESC, c.id DESC' : 'c.receivedAt DESC, c.id DESC';
    const docs = await this.query<MessageDoc>(mail, `SELECT TOP ${limit + 1} * FROM c WHERE ${where.join(' AND ')} ORDER BY ${order}`, parameters, userId);
    const items = docs.slice(0, limit).map(toMessage);
    const last = items[items.length - 1];
    return { items, nextCursor: docs.length > limit && last ? encodeCursor(last.receivedAt, last.id) : null };
  }

  async getMessage(userId: string, id: string): Promise<StoredMessage | null> {
    const doc = await this.messageDoc(userId, id);
    return doc ? toMessage(doc) : null;
  }

  /** Replaces one message under its etag, then moves the counts; a concurrent change makes it re-read and try again. */
  private async patchMessage(start: MessageDoc & { _etag?: string }, patch: { seen?: boolean; flagged?: boolean; mailboxId?: string }): Promise<MessageDoc> {
    const { mail } = await this.containers();
    let doc: (MessageDoc & { _etag?: string }) | null = start;
    for (let attempt = 0; attempt < 10 && doc; attempt++) {
      const next: MessageDoc = { ...doc, seen: patch.seen ?? doc.seen, flagged: patch.flagged ?? doc.flagged, mailboxId: patch.mailboxId ?? doc.mailboxId };
      const current: MessageDoc & { _etag?: string } = doc;
      const replaced = await this.call('update message', async () => {
        try {
          await mail.item(current.id, current.userId).replace(next, current._etag ? { accessCondition: { type: 'IfMatch', condition: current._etag } } : {});
          return true;
        } catch (err) {
          if (statusOf(err) === 412) return false;
          throw err;
        }
      });
      if (replaced) {
        if (!current.uncounted) {
          await this.adjustCounts(current.userId, current.mailboxId, -1, current.seen ? 0 : -1);
          await this.adjustCounts(next.userId, next.mailboxId, 1, next.seen ? 0 : 1);
        }
        return next;
      }
      doc = await this.messageDoc(start.userId, start.id);
    }
    throw new MailError('TemporaryFailure', 'message kept changing under the update');
  }

  private async ownDocs(userId: string, ids: string[]): Promise<Array<MessageDoc & { _etag: string }>> {
    const docs = await this.parallel([...new Set(ids)], (id) => this.messageDoc(userId, id));
    return docs.filter((d): d is MessageDoc & { _etag: string } => d !== null);
  }

  async updateMessages(userId: string, ids: string[], patch: { seen?: boolean; flagged?: boolean; mailboxId?: string }): Promise<StoredMessage[]> {
    if (patch.mailboxId && !(await this.mailboxDoc(userId, patch.mailboxId))) throw new MailError('NotFound', 'Mailbox not found');
    const docs = await this.ownDocs(userId, ids);
    return (await this.parallel(docs, (doc) => this.patchMessage(doc, patch))).map(toMessage);
  }

  async deleteMessages(userId: string, ids: string[]): Promise<{ trashed: string[]; deleted: string[]; orphanedBlobKeys: string[] }> {
    const trash = await this.requireSpecialMailboxId(userId, 'trash');
    const docs = await this.ownDocs(userId, ids);
    const inTrash = docs.filter((d) => d.mailboxId === trash);
    const elsewhere = docs.filter((d) => d.mailboxId !== trash);
    await this.parallel(elsewhere, (doc) => this.patchMessage(doc, { mailboxId: trash }));
    const orphanedBlobKeys = await this.removeMessages(userId, inTrash, { count: true });
    return { trashed: elsewhere.map((d) => d.id), deleted: inTrash.map((d) => d.id), orphanedBlobKeys };
  }

  /**
   * Deletes messages for good; returns the raw blob keys no message of anyone
   * references any more (a cross-partition query per distinct key: copies of one
   * inbound message live in each recipient's partition) and the draft files.
   */
  private async removeMessages(userId: string, docs: MessageDoc[], opts: { count: boolean }): Promise<string[]> {
    const { mail } = await this.containers();
    await this.parallel(docs, async (doc) => {
      await this.remove(mail, doc.id, userId);
      if (opts.count && !doc.uncounted) await this.adjustCounts(userId, doc.mailboxId, -1, doc.seen ? 0 : -1);
    });
    const keys = [...new Set(docs.map((d) => d.rawBlobKey))];
    const unused = await this.parallel(keys, async (key) => {
      const [n] = await this.query<number>(mail, "SELECT VALUE COUNT(1) FROM c WHERE c.type = 'message' AND c.rawBlobKey = @k", [{ name: '@k', value: key }]);
      return n ? null : key;
    });
    const draftFiles = docs.flatMap((d) => d.draft?.attachments.map((a) => a.blobKey) ?? []);
    return unused.filter((k): k is string => k !== null).concat(draftFiles);
  }

  /** Read, merge, replace under the etag; a concurrent update (another domain's attempt) re-reads and merges again. */
  async updateDelivery(userId: string, messageId: string, updates: DeliveryStatus[]): Promise<boolean> {
    const { mail } = await this.containers();
    for (let attempt = 0; attempt < 10; attempt++) {
      const doc = await this.messageDoc(userId, messageId);
      if (!doc) return false;
      const next: MessageDoc = { ...doc, delivery: mergeDelivery(doc.delivery ?? [], updates) };
      const replaced = await this.call('update delivery', async () => {
        try {
          await mail.item(doc.id, userId).replace(next, { accessCondition: { type: 'IfMatch', condition: doc._etag } });
          return true;
        } catch (err) {
          if (statusOf(err) === 412) return false;
          if (statusOf(err) === 404) return null;
          throw err;
        }
      });
      if (replaced === null) return false;
      if (replaced) return true;
    }
    throw new MailError('TemporaryFailure', 'delivery state kept changing under the update');
  }

  // ---- drafts -----------------------------------------------------------

  async getDraft(userId: string, id: string): Promise<Draft | null> {
    const doc = await this.messageDoc(userId, id);
    return doc?.draft ? { id: doc.id, fields: doc.draft.fields, attachments: doc.draft.attachments, version: doc.draft.version ?? 1 } : null;
  }

  /**
   * A replacement is a compare-and-swap twice over: on the draft's version (the
   * caller's If-Match) and on the document's etag (a save, a flag or a move that
   * came between the read and the write). An etag that moved for anything but a
   * save is read again and the save tried again on it.
   */
  async saveDraft(userId: string, input: { id: string | null; expectedVersion?: number; fields: DraftFields; attachments: DraftAttachment[]; rawBlobKey: string; size: number; summary: MessageSummary }): Promise<{ message: StoredMessage; version: number; replacedBlobKey: string | null }> {
    const { mail } = await this.containers();
    const { searchText, ...summary } = input.summary;
    const now = Date.now();
    if (input.id) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const doc = await this.messageDoc(userId, input.id);
        if (!doc?.draft) throw new MailError('NotFound', 'Draft not found');
        const current = doc.draft.version ?? 1;
        if (input.expectedVersion !== undefined && current !== input.expectedVersion) throw new MailError('PreconditionFailed', 'The draft was saved meanwhile: load it again, then retry');
        const draft = { fields: input.fields, attachments: input.attachments, version: current + 1 };
        const next: MessageDoc = { ...doc, rawBlobKey: input.rawBlobKey, size: input.size, summary, receivedAt: now, terms: searchTerms(summary, searchText), draft };
        const replaced = await this.call('save draft', async () => {
          try {
            await mail.item(doc.id, userId).replace(next, { accessCondition: { type: 'IfMatch', condition: doc._etag } });
            return true;
          } catch (err) {
            if (statusOf(err) === 412) return false;
            throw err;
          }
        });
        if (replaced) return { message: toMessage(next), version: draft.version, replacedBlobKey: doc.rawBlobKey === input.rawBlobKey ? null : doc.rawBlobKey };
      }
      throw new MailError('TemporaryFailure', 'draft kept changing under the save');
    }
    const id = newId(now);
    const doc: MessageDoc = {
      id,
      type: 'message',
      userId,
      mailboxId: await this.requireSpecialMailboxId(userId, 'drafts'),
      inboundId: `draft:${id}`,
      rawBlobKey: input.rawBlobKey,
      size: input.size,
      receivedAt: now,
      seen: true,
      flagged: false,
      summary,
      auth: null,
      terms: searchTerms(summary, searchText),
      draft: { fields: input.fields, attachments: input.attachments, version: 1 },
    };
    await this.call('create draft', () => mail.items.create(doc));
    await this.adjustCounts(userId, doc.mailboxId, 1, 0);
    return { message: toMessage(doc), version: 1, replacedBlobKey: null };
  }

  /**
   * Cross-partition queries: message copies by their indexed rawBlobKey, 100 keys
   * at a time; draft files (asked only for keys that can be one) from the drafts'
   * attachment lists (a draft's inbound id starts with "draft:", an indexed range,
   * so only drafts are read; drafts are few).
   */
  async referencedBlobKeys(keys: string[]): Promise<Set<string>> {
    const { mail } = await this.containers();
    const asked = new Set(keys);
    const found = new Set<string>();
    const unique = [...asked];
    for (let i = 0; i < unique.length; i += 100) {
      const parameters = unique.slice(i, i + 100).map((value, n) => ({ name: `@k${n}`, value }));
      const raw = await this.query<string>(mail, `SELECT VALUE c.rawBlobKey FROM c WHERE c.type = 'message' AND c.rawBlobKey IN (${parameters.map((p) => p.name).join(', ')})`, parameters);
      for (const key of raw) found.add(key);
    }
    if (unique.some(isDraftFileKey)) {
      const lists = await this.query<DraftAttachment[]>(mail, "SELECT VALUE c.draft.attachments FROM c WHERE c.type = 'message' AND STARTSWITH(c.inboundId, 'draft:')", []);
      for (const file of lists.flat()) if (asked.has(file.blobKey)) found.add(file.blobKey);
    }
    return found;
  }

  async ping(): Promise<void> {
    const { directory } = await this.containers();
    await this.call('ping', () => directory.read());
  }

  async close(): Promise<void> {
    this.client.dispose();
  }
}
