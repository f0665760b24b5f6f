import { z } from 'zod';
import { isValidDomain, isValidMailbox } from '../../core/address';

/** Request fields shared by several routes. */
export const Email = z.string().trim().toLowerCase().max(320).refine(isValidMailbox, 'must be an email address');
export const Domain = z.string().trim().toLowerCase().refine(isValidDomain, 'must be a domain name like example.com');
export const Password = z.string().min(8, 'at least 8 characters').max(200);
export const DisplayName = z.string().trim().min(1).max(200);
export const FolderName = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((v) => !/[\x00-\x1f\x7f/]/.test(v), 'must not contain "/" or control characters');
export const Id = z.string().min(1).max(64);
export const IdList = z.array(Id).min(1, 'at least one id').max(1000, 'at most 1000 ids');

/** What PATCH may change on a message. */
export const MessagePatch = z
  .object({ seen: z.boolean().optional(), flagged: z.boolean().optional(), mailbox: Id.optional() })
  .refine((p) => p.seen !== undefined || p.flagged !== undefined || p.mailbox !== undefined, 'give seen, flagged or mailbox');

export const toStorePatch = (p: z.infer<typeof MessagePatch>) => ({ seen: p.seen, flagged: p.flagged, mailboxId: p.mailbox });

/** A Message-ID as In-Reply-To and References carry it: <local@domain>, no spaces or line breaks. */
export const MessageIdField = z.string().trim().max(998).regex(/^<[^<>\s]+>$/, 'must be a Message-ID like <id@example.com>');

export const Address = z.union([Email, z.object({ address: Email, name: z.string().trim().max(200).default('') })]).transform((a) => (typeof a === 'string' ? { address: a, name: '' } : a));
export const AddressList = z.array(Address).max(100).default([]);

/** A draft's fields, as POST /api/mails and PUT /api/mails/{id} take them. */
export const DraftBody = z.object({
  to: AddressList,
  cc: AddressList,
  bcc: AddressList,
  subject: z.string().max(998).default(''),
  text: z.string().default(''),
  html: z.string().nullable().default(null),
  inReplyTo: MessageIdField.nullable().default(null),
  references: z.array(MessageIdField).max(100).default([]),
});
