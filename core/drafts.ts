import MailComposer from 'nodemailer/lib/mail-composer';
import { newId } from './ids';
import type { Logger } from './logger';
import { createSummaryParser } from './mime';
import type { BlobStore, MailStore } from './ports';
import type { DraftAttachment, DraftFields, StoredMessage, User } from './types';

/** Composes a draft into RFC 5322 bytes, from the user's own address, keeping Bcc (it is needed to send). */
export async function composeDraft(user: User, fields: DraftFields, attachments: DraftAttachment[], blobs: BlobStore): Promise<Buffer> {
  const files = await Promise.all(
    attachments.map(async (a) => ({ filename: a.filename, contentType: a.contentType, content: (await blobs.getBuffer(a.blobKey)) ?? Buffer.alloc(0) })),
  );
  const node = new MailComposer({
    from: { name: user.name, address: user.email },
    to: fields.to,
    cc: fields.cc,
    bcc: fields.bcc,
    subject: fields.subject,
    text: fields.text,
    html: fields.html ?? undefined,
    inReplyTo: fields.inReplyTo ?? undefined,
    references: fields.inReplyTo ?? undefined,
    attachments: files,
  }).compile();
  node.keepBcc = true;
  return node.build();
}

/**
 * Saves a draft (new when `id` is null): composes it, summarizes it like inbound
 * mail, stores the bytes, then the record; the previous bytes are removed after.
 * Sending (a later issue) takes the stored draft and its fields from here.
 */
export async function saveDraft(
  deps: { store: MailStore; blobs: BlobStore; logger: Logger },
  user: User,
  id: string | null,
  fields: DraftFields,
  attachments: DraftAttachment[],
): Promise<StoredMessage> {
  const raw = await composeDraft(user, fields, attachments, deps.blobs);
  const parser = createSummaryParser();
  parser.input.end(raw);
  const summary = await parser.summary;
  const rawBlobKey = `raw/draft-${newId()}.eml`;
  await deps.blobs.put(rawBlobKey, raw);
  try {
    const { message, replacedBlobKey } = await deps.store.saveDraft(user.id, { id, fields, attachments, rawBlobKey, size: raw.length, summary });
    if (replacedBlobKey) await deps.blobs.delete(replacedBlobKey).catch((err) => deps.logger.error({ err, key: replacedBlobKey }, 'could not remove old draft bytes'));
    return message;
  } catch (err) {
    await deps.blobs.delete(rawBlobKey).catch(() => undefined);
    throw err;
  }
}
