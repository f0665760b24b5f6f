import { domainOf, normalizeAddress } from './address';
import { checkLogin, type PasswordHasher } from './auth';
import { blobKeys } from './blob-keys';
import { buildBounce, type BouncedRecipient } from './bounce';
import { inProcessDkimSigner, type DkimSigner } from './dkim';
import { composeMime, summarize, type MimeFile } from './drafts';
import { MailError, surelyNotDone } from './errors';
import { newId } from './ids';
import type { Logger } from './logger';
import type { BlobStore, MailStore, OutboundTransport, QueueSender } from './ports';
import { sendRateLimited, type LoginGuard, type SendLimit } from './rate-limit';
import type { AddressValue, DeliveryStatus, DraftFields, InboundQueueMessage, MessageSummary, OutboundQueueMessage, StoredMessage, User } from './types';

/**
 * Sending, for the API and SMTP submission alike: the sender's addresses are
 * checked, the message is DKIM-signed with its domain's key (when it has one), a
 * copy is kept in Sent with a delivery state per recipient, hosted recipients get
 * it through the inbound filing path (the inbound queue: no network hop), and each
 * foreign recipient domain gets one outbound queue message. The outbound worker
 * (local) or trigger (Azure) hands those to the transport, retries temporary
 * failures on a schedule until the lifetime ends, and bounces permanent ones.
 */

/** Retry waits (the last repeats) and how long a message is tried before it bounces. */
export interface OutboundPolicy {
  scheduleMs: number[];
  lifetimeMs: number;
}

export interface SubmitDeps {
  store: MailStore;
  blobs: BlobStore;
  logger: Logger;
  /** Hosted recipients: the queue the inbound consumer files from. */
  inboundQueue: QueueSender<InboundQueueMessage>;
  outboundQueue: QueueSender<OutboundQueueMessage>;
  sendLimiter: SendLimit;
  /** Who computes DKIM signatures (the local host: a thread of their own); in this thread by default. */
  dkimSigner?: DkimSigner;
  /** Who reads back the summary of a message the API composed (the local host: the analysis thread); in this thread by default. */
  summarizer?: (raw: Buffer) => Promise<MessageSummary>;
  /**
   * Where a domain is looked up on the way out (its DKIM key; hosted or not): the store by
   * default; in the Azure shape a CachedDirectory in front of Cosmos DB, so a key or a
   * domain's change applies within NIMBUS_DIRECTORY_CACHE_MS. Addresses always come from the store.
   */
  domainLookups?: Pick<MailStore, 'getDomain'>;
}


/** What one submission carries; the raw bytes are in the BlobStore already. */
export interface Submission {
  user: User;
  mailFrom: string;
  recipients: string[];
  rawBlobKey: string;
  /** The raw bytes (read from the BlobStore when not given): signed once, here. */
  raw?: Buffer;
  /** The BlobStore write of `raw` when still under way: it shares a commit with the Sent copy (one fsync less). */
  rawStored?: Promise<unknown>;
  /** Recipients the caller has already looked up (the API's send; submission at RCPT TO): the hosted ones, normalized; the rest are foreign. Absent: each is looked up here. */
  hosted?: ReadonlySet<string>;
  size: number;
  summary: MessageSummary;
  receivedAt: number;
  client?: { remoteAddress: string; clientHostname: string; helo: string };
}

export interface SubmitResult {
  id: string;
  sent: StoredMessage;
  delivery: DeliveryStatus[];
}

const HOSTED_DETAIL = 'delivered to a mailbox on this server';

/** `SenderNotOwned` unless `address` delivers to this user (primary address or alias). */
export async function assertSenderOwned(store: Pick<MailStore, 'resolveAddress'>, user: User, address: string | null | undefined): Promise<void> {
  const normalized = address ? normalizeAddress(address) : '';
  const owner = normalized && domainOf(normalized) ? await store.resolveAddress(normalized) : null;
  if (owner?.userId !== user.id) throw new MailError('SenderNotOwned', `Sender address is not yours: <${normalized}>`);
}

/**
 * The DKIM-Signature header field(s) for `raw`, signed relaxed/relaxed with
 * rsa-sha256 by the From domain's key; null when the domain has no key yet.
 */
export async function dkimSignature(store: Pick<MailStore, 'getDomain'>, raw: Buffer, fromAddress: string | null | undefined, now = Date.now(), signer: DkimSigner = inProcessDkimSigner): Promise<string | null> {
  const domain = fromAddress ? domainOf(fromAddress) : '';
  const hosted = domain ? await store.getDomain(domain) : null;
  if (!hosted?.dkim) return null;
  return signer(raw, { signingDomain: domain, selector: hosted.dkim.selector, privateKey: hosted.dkim.privateKeyPem }, new Date(now));
}

/** Recipients once each (case-insensitively), in the order given. */
function distinct(addresses: string[]): string[] {
  const seen = new Set<string>();
  return addresses.map(normalizeAddress).filter((a) => !seen.has(a) && Boolean(seen.add(a)));
}

const queued = (recipient: string): DeliveryStatus => ({ recipient, status: 'queued', attempts: 0, nextAttemptAt: null, detail: null });

/**
 * Takes a submitted message (raw bytes already in the BlobStore): checks the
 * sender's hourly limit, signs, files the Sent copy, then queues. The blob belongs
 * to this call: it is removed when the submission fails before the Sent copy
 * exists. A failure while queueing marks the affected recipients failed (the caller
 * answers 451/503, the client sends again), so no recipient stays "queued" forever.
 */
export async function submitMessage(deps: SubmitDeps, input: Submission): Promise<SubmitResult> {
  const { store } = deps;
  const { user } = input;
  const id = newId(input.receivedAt);
  const recipients = distinct(input.recipients);
  let sent: StoredMessage;
  const hosted: string[] = [];
  const foreign = new Map<string, string[]>();
  let signature: string | null = null;
  let filing = false;
  try {
    await deps.sendLimiter.take(user.id);
    for (const rcpt of recipients) {
      if (input.hosted ? input.hosted.has(rcpt) : await store.resolveAddress(rcpt)) hosted.push(rcpt);
      else foreign.set(domainOf(rcpt), [...(foreign.get(domainOf(rcpt)) ?? []), rcpt]);
    }
    const raw = input.raw ?? (await deps.blobs.getBuffer(input.rawBlobKey));
    if (!raw) throw new MailError('TemporaryFailure', 'submitted bytes are unavailable');
    signature = await dkimSignature(deps.domainLookups ?? store, raw, input.summary.from?.address, input.receivedAt, deps.dkimSigner);
    const sentBoxId = await store.specialMailboxId(user.id, 'sent');
    if (!sentBoxId) throw new MailError('TemporaryFailure', 'the sender has no Sent folder');
    const delivery = recipients.map((r) => (hosted.includes(r) ? { ...queued(r), status: 'sent' as const, detail: HOSTED_DETAIL } : queued(r)));
    filing = true;
    const filed = store.fileMessages([
      { userId: user.id, mailboxId: sentBoxId, inboundId: `sent:${id}`, rawBlobKey: input.rawBlobKey, size: input.size, receivedAt: input.receivedAt, summary: input.summary, auth: null, seen: true, delivery },
    ]);
    // both must be durable before anything is queued: a queue message never points at bytes or a copy not yet on disk
    [[sent]] = await Promise.all([filed, input.rawStored]);
  } catch (err) {
    await input.rawStored?.catch(() => undefined);
    // once the Sent copy may exist (a write of unknown outcome), its bytes stay: the orphan sweeper removes them if it does not
    if (!filing || surelyNotDone(err)) {
      await deps.blobs.delete(input.rawBlobKey).catch((e) => deps.logger.error({ err: e }, 'could not remove the bytes of a refused submission'));
    } else {
      deps.logger.warn({ rawBlobKey: input.rawBlobKey }, 'Sent copy outcome unknown: its bytes are kept');
    }
    throw err;
  }

  const pending: Array<{ recipients: string[]; send: () => Promise<void> }> = [];
  if (hosted.length) {
    const client = input.client ?? { remoteAddress: '127.0.0.1', clientHostname: 'localhost', helo: 'localhost' };
    const message: InboundQueueMessage = {
      id,
      envelope: { mailFrom: input.mailFrom, rcptTo: hosted, ...client, authUser: user.email },
      rawBlobKey: input.rawBlobKey,
      size: input.size,
      receivedAt: input.receivedAt,
      summary: input.summary,
      auth: null,
    };
    pending.push({ recipients: hosted, send: () => deps.inboundQueue.send(id, message) });
  }
  [...foreign.values()].forEach((list, index) => {
    const message: OutboundQueueMessage = {
      id: `${id}.${index}.0`,
      submissionId: id,
      userId: user.id,
      sentMessageId: sent.id,
      mailFrom: input.mailFrom,
      recipients: list,
      rawBlobKey: input.rawBlobKey,
      dkimSignature: signature,
      submittedAt: input.receivedAt,
      attempts: 0,
    };
    pending.push({ recipients: list, send: () => deps.outboundQueue.send(message.id, message) });
  });
  const results = await Promise.allSettled(pending.map((p) => p.send()));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ recipients: pending[i].recipients, err: r.reason as unknown }] : []));
  if (failed.length) {
    // surely not queued: say so; an unknown outcome stays "queued" (if it was queued, its delivery reports)
    const updates = failed.filter((f) => surelyNotDone(f.err)).flatMap((f) => f.recipients.map((r) => ({ recipient: r, status: 'failed' as const, attempts: 0, nextAttemptAt: null, detail: 'not queued (temporary local problem); the sender was asked to send again' })));
    if (updates.length) await store.updateDelivery(user.id, sent.id, updates).catch((err) => deps.logger.error({ err }, 'could not mark unqueued recipients'));
    throw new MailError('TemporaryFailure', undefined, { cause: failed[0].err });
  }
  deps.logger.info({ submissionId: id, user: user.email, hosted: hosted.length, foreignDomains: foreign.size, signed: signature !== null }, 'message submitted');
  return { id, sent, delivery: sent.delivery ?? [] };
}

/** What the send API takes: a draft's fields and the files' bytes. */
export interface Outgoing {
  from: AddressValue;
  fields: DraftFields;
  files: MimeFile[];
  /** The recipients already found hosted (see Submission.hosted). */
  hosted?: ReadonlySet<string>;
}

/**
 * The API's send: composes the message (Message-ID and Date set here, Bcc kept out
 * of the bytes and in the envelope), checks size and sender, stores it, submits it.
 */
export async function sendComposed(deps: SubmitDeps & { maxMessageBytes: number }, user: User, outgoing: Outgoing): Promise<SubmitResult> {
  const recipients = [...outgoing.fields.to, ...outgoing.fields.cc, ...outgoing.fields.bcc].map((a) => a.address);
  if (recipients.length === 0) throw new MailError('ValidationFailed', 'to: at least one recipient (to, cc or bcc) is required', { details: { field: 'to' } });
  await assertSenderOwned(deps.store, user, outgoing.from.address);
  const waitMs = await deps.sendLimiter.check(user.id);
  if (waitMs > 0) throw sendRateLimited(waitMs);
  const now = Date.now();
  const raw = await composeMime(outgoing.from, outgoing.fields, outgoing.files, { keepBcc: false, messageId: `<${newId(now)}@${domainOf(outgoing.from.address)}>`, date: new Date(now) });
  if (raw.length > deps.maxMessageBytes) throw new MailError('PayloadTooLarge', `The message would be ${raw.length} bytes; the limit is ${deps.maxMessageBytes}`);
  const summary = await (deps.summarizer ?? summarize)(raw);
  const rawBlobKey = blobKeys.outbound(newId(now));
  const rawStored = deps.blobs.put(rawBlobKey, raw);
  rawStored.catch(() => undefined); // awaited in submitMessage
  return submitMessage(deps, { user, mailFrom: outgoing.from.address, recipients, rawBlobKey, raw, rawStored, size: raw.length, summary, receivedAt: now, hosted: outgoing.hosted });
}

/** The SMTP edge's narrow view of sending: who is logging in, and what it may send. */
export interface SubmissionPort {
  /** The user when the password is right, null when not; `RateLimited` over the login limits (shared with API login). */
  authenticate(username: string, password: string, clientAddress: string): Promise<User | null>;
  /** At MAIL FROM: `SenderNotOwned` (553 5.7.1), `SendRateLimited` (451 4.7.1). */
  checkSender(user: User, mailFrom: string): Promise<void>;
  /** At the end of DATA, the bytes in the BlobStore: `SenderNotOwned` when the From header is not the user's. */
  submit(input: Submission): Promise<SubmitResult>;
}

export function createSubmission(deps: SubmitDeps & { passwords: PasswordHasher; loginGuard: LoginGuard }): SubmissionPort {
  return {
    async authenticate(username, password, clientAddress) {
      const found = await checkLogin(deps, username, password, clientAddress);
      if (!found) return null;
      const { passwordHash: _secret, ...user } = found;
      return user;
    },
    async checkSender(user, mailFrom) {
      await assertSenderOwned(deps.store, user, mailFrom);
      const waitMs = await deps.sendLimiter.check(user.id);
      if (waitMs > 0) throw sendRateLimited(waitMs);
    },
    async submit(input) {
      try {
        // every author the header names (each From address, the Sender) must be the user's: nobody signs for another
        if (input.summary.ambiguousAuthors) throw new MailError('SenderNotOwned', 'More than one From or Sender field, or too many authors: refused');
        for (const address of [input.summary.from?.address, ...(input.summary.otherSenders ?? [])]) await assertSenderOwned(deps.store, input.user, address);
      } catch (err) {
        await deps.blobs.delete(input.rawBlobKey).catch(() => undefined);
        throw err;
      }
      return submitMessage(deps, input);
    },
  };
}

// ---- delivery (the outbound worker and trigger) ------------------------------

export interface DeliverDeps {
  store: MailStore;
  blobs: BlobStore;
  transport: OutboundTransport;
  /** Where a retry is scheduled (the same queue the message came from). */
  outboundQueue: QueueSender<OutboundQueueMessage>;
  logger: Logger;
  policy: OutboundPolicy;
  /** Names this server in bounces. */
  hostname: string;
}

/** The wait before attempt `attempts + 1`: the schedule's entry, its last one repeating. */
export function retryDelayMs(policy: OutboundPolicy, attempts: number): number {
  return policy.scheduleMs[Math.min(Math.max(attempts, 1), policy.scheduleMs.length) - 1];
}

/** Validates a queue body's shape before trusting it; a bad one can never succeed. */
export function isOutboundQueueMessage(value: unknown): value is OutboundQueueMessage {
  const v = value as OutboundQueueMessage;
  return (
    typeof v === 'object' && v !== null &&
    typeof v.id === 'string' && typeof v.submissionId === 'string' && typeof v.userId === 'string' && typeof v.sentMessageId === 'string' &&
    typeof v.mailFrom === 'string' && Array.isArray(v.recipients) && v.recipients.every((r) => typeof r === 'string') &&
    typeof v.rawBlobKey === 'string' && typeof v.submittedAt === 'number' && typeof v.attempts === 'number'
  );
}

/** Why a recipient is held (NIMBUS_OUTBOUND_TRANSPORT=none): the none transport says it, and it is the fallback. */
export const HELD_DETAIL = 'held: no outbound transport is configured (NIMBUS_OUTBOUND_TRANSPORT=none); it is sent at a later attempt once one is';

/**
 * One attempt for one outbound queue message. Sent and failed recipients are final;
 * temporary ones are deferred: a new queue message is scheduled for the next attempt
 * (the caller then completes this one). Held ones (no transport configured) wait the
 * same way, so they go out at their next attempt once a transport is configured. Past
 * the lifetime a temporary failure or a hold becomes final (failed, bounced). A misconfigured transport (our key or login refused) keeps
 * everything deferred and never bounces or expires: it is nobody's fault but ours.
 * Failed recipients get one bounce in the sender's Inbox, unless the sender is null.
 * Throws only for infrastructure faults (store, blob, queue): the queue retries it.
 */
export async function processOutbound(deps: DeliverDeps, message: OutboundQueueMessage, now = Date.now()): Promise<void> {
  const log = deps.logger.child({ outboundId: message.id });
  const attempts = message.attempts + 1;
  const raw = await deps.blobs.getBuffer(message.rawBlobKey);
  if (!raw) {
    // the bytes are kept while this message waits (the orphan sweeper asks the outbound queue): lost, not deleted
    log.error('message bytes are gone; recipients marked failed');
    await deps.store.updateDelivery(message.userId, message.sentMessageId, message.recipients.map((r) => ({ recipient: r, status: 'failed', attempts, nextAttemptAt: null, detail: "the message's bytes are gone; it cannot be sent" })));
    return;
  }
  const signed = message.dkimSignature ? Buffer.concat([Buffer.from(message.dkimSignature), raw]) : raw;
  const outcomes = await deps.transport.send({ mailFrom: message.mailFrom, recipients: message.recipients, raw: signed });
  const byRecipient = new Map(outcomes.map((o) => [o.recipient.toLowerCase(), o]));
  const deadline = message.submittedAt + deps.policy.lifetimeMs;
  const retryAfter = Math.max(0, ...outcomes.map((o) => o.retryAfterMs ?? 0));
  const nextAt = now + Math.max(retryDelayMs(deps.policy, attempts), retryAfter);

  const updates: DeliveryStatus[] = [];
  const retry: string[] = [];
  const bounced: BouncedRecipient[] = [];
  for (const recipient of message.recipients) {
    const o = byRecipient.get(recipient.toLowerCase()) ?? { recipient, outcome: 'temporary' as const, detail: 'the transport said nothing about this recipient' };
    const final = (status: 'sent' | 'failed', detail: string) => updates.push({ recipient, status, attempts, nextAttemptAt: null, detail });
    if (o.outcome === 'sent') final('sent', o.detail);
    else if (o.outcome === 'held' && nextAt > deadline) {
      const detail = `not sent: no outbound transport was configured in ${Math.round((now - message.submittedAt) / 3_600_000)} h (NIMBUS_OUTBOUND_TRANSPORT=none)`;
      final('failed', detail);
      bounced.push({ recipient, detail, expired: true });
    } else if (o.outcome === 'held') {
      updates.push({ recipient, status: 'held', attempts, nextAttemptAt: nextAt, detail: o.detail || HELD_DETAIL });
      retry.push(recipient);
    } else if (o.outcome === 'permanent') {
      final('failed', o.detail);
      bounced.push({ recipient, detail: o.detail, expired: false });
    } else if (o.outcome === 'temporary' && nextAt > deadline) {
      const detail = `gave up after ${attempts} attempts in ${Math.round((now - message.submittedAt) / 3_600_000)} h; last: ${o.detail}`;
      final('failed', detail);
      bounced.push({ recipient, detail, expired: true });
    } else {
      // temporary within the lifetime, or our own misconfiguration (never expires, never bounces)
      updates.push({ recipient, status: 'deferred', attempts, nextAttemptAt: nextAt, detail: o.outcome === 'misconfigured' ? `transport misconfigured: ${o.detail}` : o.detail });
      retry.push(recipient);
    }
  }

  const next: OutboundQueueMessage = { ...message, id: message.id.replace(/\.\d+$/, `.${attempts}`), recipients: retry, attempts };
  await Promise.all([retry.length ? deps.outboundQueue.send(next.id, next, { notBefore: nextAt }) : undefined, deps.store.updateDelivery(message.userId, message.sentMessageId, updates)]);
  if (bounced.length) await fileBounce(deps, message, raw, bounced, now);
  log.info({ attempts, sent: updates.filter((u) => u.status === 'sent').length, failed: bounced.length, deferred: retry.length, transport: deps.transport.name }, 'delivery attempt');
}

/** One bounce per attempt message in the sender's Inbox, filed idempotently (a redelivered attempt files none twice). */
async function fileBounce(deps: DeliverDeps, message: OutboundQueueMessage, original: Buffer, recipients: BouncedRecipient[], now: number): Promise<void> {
  if (!message.mailFrom) return; // never bounce a bounce (null sender)
  const inbox = await deps.store.findMailboxBySpecialUse(message.userId, 'inbox');
  if (!inbox) return; // the sender is gone
  const raw = buildBounce({ hostname: deps.hostname, to: message.mailFrom, recipients, original, submittedAt: message.submittedAt, now });
  const rawBlobKey = blobKeys.bounce(message.id);
  await deps.blobs.put(rawBlobKey, raw);
  await deps.store.fileMessages([
    { userId: message.userId, mailboxId: inbox.id, inboundId: `bounce:${message.id}`, rawBlobKey, size: raw.length, receivedAt: now, summary: await summarize(raw), auth: null },
  ]);
}
