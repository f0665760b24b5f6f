import type MailComposer from 'nodemailer/lib/mail-composer';
import { blobKeys } from './blob-keys';
import { MailError, isMailError } from './errors';
import { newId } from './ids';
import { lazy } from './lazy';
import { createSummaryParser } from './mime';
import type { OrphanSweeper } from './orphans';
import type { BlobStore, MailStore } from './ports';
import type { AddressValue, Draft, DraftAttachment, DraftFields, MessageSummary, StoredMessage, User } from './types';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const mailComposer = lazy(() => require('nodemailer/lib/mail-composer') as typeof MailComposer);

export interface MimeFile {
  filename: string;
  contentType: string;
  content: Buffer;
}

/**
 * Composes RFC 5322 bytes with nodemailer's MailComposer. A draft keeps its Bcc
 * (it is needed to send); a message being sent leaves it out (the envelope carries it).
 */
export function composeMime(
  from: AddressValue,
  fields: DraftFields,
  files: MimeFile[],
  opts: { keepBcc: boolean; messageId?: string; date?: Date },
): Promise<Buffer> {
  const references = fields.references?.length ? fields.references : fields.inReplyTo ? [fields.inReplyTo] : undefined;
  const Composer = mailComposer();
  const node = new Composer({
    from,
    to: fields.to,
    cc: fields.cc,
    bcc: fields.bcc,
    subject: fields.subject,
    text: fields.text,
    html: fields.html ?? undefined,
    inReplyTo: fields.inReplyTo ?? undefined,
    references,
    messageId: opts.messageId,
    date: opts.date,
    attachments: files,
  }).compile();
  node.keepBcc = opts.keepBcc;
  return node.build();
}

/** A draft's files as MailComposer takes them (their bytes are blobs of their own). */
export function draftFileContents(attachments: DraftAttachment[], blobs: BlobStore): Promise<MimeFile[]> {
  return Promise.all(attachments.map(async (a) => ({ filename: a.filename, contentType: a.contentType, content: (await blobs.getBuffer(a.blobKey)) ?? Buffer.alloc(0) })));
}

/** Composes a draft into RFC 5322 bytes, from the user's own address, keeping Bcc (it is needed to send). */
export async function composeDraft(user: User, fields: DraftFields, attachments: DraftAttachment[], blobs: BlobStore): Promise<Buffer> {
  return composeMime({ name: user.name, address: user.email }, fields, await draftFileContents(attachments, blobs), { keepBcc: true });
}

/** The summary of composed bytes, as the edge makes it for inbound mail. */
export async function summarize(raw: Buffer): Promise<MessageSummary> {
  const parser = createSummaryParser();
  parser.input.end(raw);
  return parser.summary;
}

/** What a draft save needs of the app. */
export interface DraftDeps {
  store: MailStore;
  blobs: BlobStore;
  orphans: Pick<OrphanSweeper, 'release'>;
}

/**
 * Saves a draft (new when `id` is null): composes it, summarizes it like inbound
 * mail, stores the bytes, then the record (a compare-and-swap on `expectedVersion`
 * when given); the previous bytes are released after, the new ones on failure.
 * Sending (core/outbound.ts) composes the stored fields and files afresh.
 */
export async function saveDraft(
  deps: DraftDeps,
  user: User,
  id: string | null,
  fields: DraftFields,
  attachments: DraftAttachment[],
  expectedVersion?: number,
): Promise<{ message: StoredMessage; version: number }> {
  const raw = await composeDraft(user, fields, attachments, deps.blobs);
  const summary = await summarize(raw);
  const rawBlobKey = blobKeys.draft(newId());
  await deps.blobs.put(rawBlobKey, raw);
  let saved: Awaited<ReturnType<MailStore['saveDraft']>>;
  try {
    saved = await deps.store.saveDraft(user.id, { id, expectedVersion, fields, attachments, rawBlobKey, size: raw.length, summary });
  } catch (err) {
    await deps.orphans.release([rawBlobKey]);
    throw err;
  }
  if (saved.replacedBlobKey) await deps.orphans.release([saved.replacedBlobKey]);
  return { message: saved.message, version: saved.version };
}

/** A draft version's entity tag: strong (If-Match compares byte for byte), quoted. */
export function draftEtag(version: number): string {
  return `"v${version}"`;
}

/** A request's If-Match: absent, any (`*`), or the entity tags it lists. */
export type IfMatch = null | '*' | string[];

/** A draft that does not meet the If-Match (RFC 9110 13.1.1; a weak tag never matches) is PreconditionFailed, with its current ETag. */
export function requireIfMatch(ifMatch: IfMatch, draft: Draft): void {
  if (ifMatch === null || ifMatch === '*' || ifMatch.includes(draftEtag(draft.version))) return;
  throw new MailError('PreconditionFailed', 'The draft was saved meanwhile: load it again, then retry', { details: { etag: draftEtag(draft.version) } });
}

/** Tries of a read-modify-write without If-Match before a concurrent writer wins with 412. */
const DRAFT_SAVE_TRIES = 5;

/**
 * Changes a draft and saves it, compare-and-swap on its version in the store, so a
 * concurrent save is never silently overwritten:
 * - with If-Match, the draft must be at that version when read and still when
 *   saved, else `PreconditionFailed` (412): the client asked to change exactly what
 *   it saw;
 * - without, `change` is applied again to the draft as another save left it (up to
 *   5 tries, then 412): two uploads at once both keep their files, an upload and a
 *   PUT each keep their part.
 * `change` gets the current draft and returns its new fields and files; it may
 * throw (NotFound, PayloadTooLarge) to give up.
 */
export async function updateDraft(
  deps: DraftDeps,
  user: User,
  id: string,
  ifMatch: IfMatch,
  change: (draft: Draft) => Pick<Draft, 'fields' | 'attachments'>,
): Promise<{ message: StoredMessage; draft: Draft; previous: Draft }> {
  for (let attempt = 1; ; attempt++) {
    const previous = await deps.store.getDraft(user.id, id);
    if (!previous) throw new MailError('NotFound', 'Draft not found');
    requireIfMatch(ifMatch, previous);
    const next = change(previous);
    try {
      const { message, version } = await saveDraft(deps, user, id, next.fields, next.attachments, previous.version);
      return { message, draft: { id, ...next, version }, previous };
    } catch (err) {
      const lostRace = isMailError(err) && err.code === 'PreconditionFailed';
      if (!lostRace || ifMatch !== null || attempt >= DRAFT_SAVE_TRIES) throw err;
    }
  }
}

/** Drafts are messages whose inbound id the stores set to `draft:<id>`. */
export function isDraftMessage(message: StoredMessage): boolean {
  return message.inboundId.startsWith('draft:');
}
