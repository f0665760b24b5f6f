import { z } from 'zod';
import type { MimeFile } from '../../core/drafts';
import { MailError } from '../../core/errors';
import type { HttpRequest } from '@azure/functions';
import { currentUser, json, readJson, safeContentType, validate, type RouteDef } from '../http-kit';
import type { AppContext } from '../app-context';
import { Address, DraftBody } from './schemas';
import { sendForUser } from './send-kit';

const Base64 = z.string().regex(/^[A-Za-z0-9+/\s]*={0,2}\s*$/, 'must be base64');
const AttachmentBody = z.object({
  filename: z.string().trim().min(1).max(255),
  contentType: z.string().max(255).default('application/octet-stream'),
  content: Base64,
});
/** The fields of a one-shot send: a draft's, plus an optional From (one of the user's addresses or aliases). */
const SendFields = DraftBody.extend({ from: Address.optional() });
export const SendBody = SendFields.extend({ attachments: z.array(AttachmentBody).max(100).default([]) });

/** multipart/form-data: to/cc/bcc/references repeat or hold comma lists; files come as `file` (or `attachments`) parts. */
async function fromMultipart(req: HttpRequest, app: AppContext): Promise<{ fields: z.infer<typeof SendFields>; files: MimeFile[] }> {
  let form: Awaited<ReturnType<typeof req.formData>>;
  try {
    form = await req.formData();
  } catch {
    throw new MailError('ValidationFailed', 'body: must be JSON or multipart/form-data', { details: { field: 'body' } });
  }
  const texts = (name: string) => form.getAll(name).filter((v): v is string => typeof v === 'string');
  const list = (name: string) => texts(name).flatMap((v) => v.split(/[,\s]+/)).filter(Boolean);
  const one = (name: string) => texts(name)[0];
  const fields = validate(SendFields, {
    to: list('to'),
    cc: list('cc'),
    bcc: list('bcc'),
    subject: one('subject') ?? '',
    text: one('text') ?? '',
    html: one('html') ?? null,
    inReplyTo: one('inReplyTo') ?? null,
    references: list('references'),
    ...(one('from') ? { from: one('from') } : {}),
  });
  type Upload = { name: string; type: string; size: number; arrayBuffer(): Promise<ArrayBuffer> };
  const uploads = [...form.getAll('file'), ...form.getAll('attachments')].filter((f) => typeof f !== 'string') as unknown as Upload[];
  if (uploads.some((f) => f.size > app.limits.maxAttachmentBytes)) throw new MailError('PayloadTooLarge', `A file is larger than ${app.limits.maxAttachmentBytes} bytes`);
  const files = await Promise.all(uploads.map(async (f) => ({ filename: f.name || 'attachment', contentType: safeContentType(f.type), content: Buffer.from(await f.arrayBuffer()) })));
  return { fields, files };
}

/**
 * POST /api/send: a one-shot send for scripts, without a draft. JSON `{to, cc, bcc,
 * subject, text, html, inReplyTo, references, from?, attachments: [{filename,
 * contentType, content (base64)}]}` or the same as multipart/form-data with files.
 * → 202 {id, delivery} as for a draft.
 */
export const send: RouteDef = {
  name: 'send',
  methods: ['POST'],
  route: 'send',
  auth: 'user',
  bodyLimit: 'upload',
  doc: {
    summary: 'Send a message at once (JSON with base64 attachments, or multipart/form-data)',
    body: SendBody,
    success: { status: 202, description: '{id, delivery}' },
    errors: ['ValidationFailed', 'MalformedJson', 'PayloadTooLarge', 'RateLimited', 'Forbidden', 'Unauthenticated', 'TemporaryFailure'],
  },
  async handler(app, req, _ctx, principal) {
    const user = await currentUser(app, principal);
    let fields: z.infer<typeof SendFields>;
    let files: MimeFile[];
    if (/^multipart\/form-data/i.test(req.headers.get('content-type') ?? '')) {
      ({ fields, files } = await fromMultipart(req, app));
    } else {
      const body = await readJson(req, SendBody, app.limits.maxMessageBytes + 1024 * 1024);
      files = body.attachments.map((a) => ({ filename: a.filename, contentType: safeContentType(a.contentType), content: Buffer.from(a.content, 'base64') }));
      if (files.some((f) => f.content.length > app.limits.maxAttachmentBytes)) throw new MailError('PayloadTooLarge', `An attachment is larger than ${app.limits.maxAttachmentBytes} bytes`);
      fields = body;
    }
    const { from, ...draft } = fields;
    const sent = await sendForUser(app, user, { from: from ?? { name: user.name, address: user.email }, fields: draft, files });
    return json(sent.status, sent.body);
  },
};
