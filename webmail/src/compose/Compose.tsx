import { useCallback, useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { api, fetchBlob, sessionExpired, uploadToDraft, type ApiError, type Capabilities, type DraftBody } from '../api/client';
import type { AddressValue, AttachmentInfo, DraftFile, SendResult, User } from '../api/types';
import { formatSize } from '../mail/format';
import { DeliveryTable } from '../mail/Reader';
import { describeError } from '../ui/ErrorNotice';
import { AddressInput } from './AddressInput';
import { isValidAddress, parseAddressList, type Recipient } from './addresses';
import { rememberPeople } from './recent';

/** What a compose pane starts from. */
export interface ComposeInit {
  kind: 'new' | 'reply' | 'reply-all' | 'forward' | 'draft';
  draftId?: string | null;
  to: AddressValue[];
  cc: AddressValue[];
  bcc: AddressValue[];
  subject: string;
  text: string;
  inReplyTo: string | null;
  /** The thread's Message-IDs, oldest first (a reply: the original's References, then its Message-ID). */
  references?: string[];
  attachments?: DraftFile[];
  /** The draft's version when it was loaded (its ETag): writes send it as If-Match, so another window's save is not overwritten unseen. */
  etag?: string | null;
  /** Forward: the original's files, copied onto the new draft. */
  forwardAttachments?: Array<{ messageId: string; attachment: AttachmentInfo }>;
  /** Brought back from this browser's storage after a reload: may hold changes the server has not seen. */
  restored?: boolean;
}

const TITLES: Record<ComposeInit['kind'], string> = { new: 'New message', reply: 'Reply', 'reply-all': 'Reply all', forward: 'Forward', draft: 'Draft' };
const AUTOSAVE_MS = 1500;

/** The unsent compose is also kept in this browser, so a reload or a lost session never loses it. */
export const composeStorageKey = (userId: string) => `nimbus.compose.${userId}`;

interface Upload {
  key: number;
  name: string;
  size: number;
  progress: number;
  error: string | null;
}

type SaveState = { state: 'idle' | 'saving' | 'saved' } | { state: 'error'; error: ApiError };

const toRecipients = (list: AddressValue[]): Recipient[] => list.map((a) => ({ ...a, valid: isValidAddress(a.address) }));
const valid = (list: Recipient[]) => list.filter((r) => r.valid).map(({ address, name }) => ({ address, name }));

export function Compose({ init, user, capabilities, onClose, onOpenSent }: { init: ComposeInit; user: User; capabilities: Capabilities; onClose(): void; onOpenSent(id: string): void }) {
  const [to, setTo] = useState(() => toRecipients(init.to));
  const [cc, setCc] = useState(() => toRecipients(init.cc));
  const [bcc, setBcc] = useState(() => toRecipients(init.bcc));
  const [texts, setTexts] = useState({ to: '', cc: '', bcc: '' });
  const [showCc, setShowCc] = useState(init.cc.length > 0 || init.bcc.length > 0);
  const [subject, setSubject] = useState(init.subject);
  const [text, setText] = useState(init.text);
  const [attachments, setAttachments] = useState<DraftFile[]>(init.attachments ?? []);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [save, setSave] = useState<SaveState>({ state: init.draftId ? 'saved' : 'idle' });
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState<string | null>(null);
  const [sent, setSent] = useState<SendResult | null>(null);
  const [dragging, setDragging] = useState(false);

  const draftId = useRef<string | null>(init.draftId ?? null);
  const etag = useRef<string | null>(init.etag ?? null);
  const dirty = useRef(Boolean(init.restored) || (init.kind !== 'draft' && init.kind !== 'new'));
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  const uploadKey = useRef(1);
  const fileInput = useRef<HTMLInputElement>(null);
  const bodyRef = useRef<HTMLTextAreaElement>(null);

  const body = (): DraftBody => ({ to: valid(to), cc: valid(cc), bcc: valid(bcc), subject, text, html: null, inReplyTo: init.inReplyTo, references: init.references ?? [] });
  const latest = useRef(body);
  latest.current = body;

  /** Every write to the draft runs one after the other: the server replaces the draft whole, so two at once could lose a file. */
  const enqueue = useCallback(<T,>(task: () => Promise<T>): Promise<T> => {
    const run = queue.current.then(task, task);
    queue.current = run.catch(() => undefined);
    return run;
  }, []);

  /** Saves the fields (creates the draft the first time). Call only from inside a queued task. */
  const writeFields = useCallback(async (force: boolean): Promise<string> => {
    if (!force && !dirty.current && draftId.current) return draftId.current;
    dirty.current = false;
    setSave({ state: 'saving' });
    try {
      const fields = latest.current();
      const r = draftId.current ? await api.saveDraft(draftId.current, fields, etag.current) : await api.createDraft(fields);
      draftId.current = r.draft.id;
      etag.current = r.etag;
      setAttachments(r.draft.attachments);
      setSave({ state: 'saved' });
      return r.draft.id;
    } catch (err) {
      dirty.current = true;
      setSave({ state: 'error', error: err as ApiError });
      throw err;
    }
  }, []);
  const saveNow = useCallback((force = false): Promise<string> => enqueue(() => writeFields(force)), [enqueue, writeFields]);

  // keep the unsent message in this browser on every change
  useEffect(() => {
    if (sent) return;
    const snapshot: ComposeInit = { kind: init.kind, draftId: draftId.current, etag: etag.current, to, cc, bcc, subject, text, inReplyTo: init.inReplyTo, references: init.references, attachments };
    localStorage.setItem(composeStorageKey(user.id), JSON.stringify(snapshot));
  }, [to, cc, bcc, subject, text, attachments, save, sent, init.kind, init.inReplyTo, init.references, user.id]);

  // autosave a moment after the last change
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      if (!dirty.current) return;
    } else dirty.current = true;
    if (sent) return;
    const t = setTimeout(() => void saveNow().catch(() => undefined), AUTOSAVE_MS);
    return () => clearTimeout(t);
  }, [to, cc, bcc, subject, text, saveNow, sent]);

  // signed in again after the session ran out: save what could not be saved
  useEffect(
    () =>
      sessionExpired.subscribe(() => {
        if (!sessionExpired.get() && dirty.current) void saveNow().catch(() => undefined);
      }),
    [saveNow],
  );

  const uploadFiles = useCallback(
    async (files: File[]) => {
      for (const file of files) {
        const key = uploadKey.current++;
        setUploads((u) => [...u, { key, name: file.name, size: file.size, progress: 0, error: null }]);
        void enqueue(async () => {
          try {
            const id = draftId.current ?? (await writeFields(true));
            const r = await uploadToDraft(id, file, etag.current, (p) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, progress: p } : x))));
            etag.current = r.etag;
            setAttachments(r.draft.attachments);
            setUploads((u) => u.filter((x) => x.key !== key));
          } catch (err) {
            const message = (err as ApiError).code === 'PayloadTooLarge' ? `too large (${describeError(err)})` : describeError(err);
            setUploads((u) => u.map((x) => (x.key === key ? { ...x, error: message } : x)));
          }
        });
      }
    },
    [enqueue, writeFields],
  );

  // forwarding: copy the original's files onto this draft
  useEffect(() => {
    const files = init.forwardAttachments;
    if (!files?.length) return;
    void (async () => {
      const copies: File[] = [];
      for (const { messageId, attachment } of files) {
        try {
          const blob = await fetchBlob(api.attachmentUrl(messageId, attachment.id));
          copies.push(new File([blob], attachment.filename || `attachment-${attachment.id}`, { type: attachment.contentType }));
        } catch (err) {
          setUploads((u) => [...u, { key: uploadKey.current++, name: attachment.filename || 'attachment', size: attachment.size, progress: 0, error: describeError(err) }]);
        }
      }
      await uploadFiles(copies);
    })();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    if (init.kind === 'reply' || init.kind === 'reply-all') {
      bodyRef.current?.focus();
      bodyRef.current?.setSelectionRange(0, 0);
    }
  }, [init.kind]);

  const removeAttachment = (file: DraftFile) =>
    void enqueue(async () => {
      if (!draftId.current) return;
      try {
        const r = await api.removeAttachment(draftId.current, file.id, etag.current);
        etag.current = r.etag;
        setAttachments(r.draft.attachments);
      } catch (err) {
        setSendError(`Couldn't remove ${file.filename}: ${describeError(err)}`);
      }
    });

  const close = async () => {
    if (!sent && (dirty.current || !draftId.current) && (to.length || cc.length || bcc.length || subject || text.trim() || attachments.length)) {
      try {
        await saveNow();
      } catch {
        return; // the error is shown; nothing is thrown away
      }
    }
    localStorage.removeItem(composeStorageKey(user.id));
    onClose();
  };

  const discard = () =>
    void enqueue(async () => {
      try {
        dirty.current = false; // nothing to save on the way out
        if (draftId.current) await api.deleteMails([draftId.current]);
        localStorage.removeItem(composeStorageKey(user.id));
        onClose();
      } catch (err) {
        setSendError(`Couldn't discard the draft: ${describeError(err)}`);
      }
    });

  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    if (sending) return;
    setSendError(null);
    // what is typed in an address field counts
    const lists = { to: [...to, ...parseAddressList(texts.to)], cc: [...cc, ...parseAddressList(texts.cc)], bcc: [...bcc, ...parseAddressList(texts.bcc)] };
    if (texts.to || texts.cc || texts.bcc) {
      setTo(lists.to);
      setCc(lists.cc);
      setBcc(lists.bcc);
      setTexts({ to: '', cc: '', bcc: '' });
      latest.current = () => ({ ...body(), to: valid(lists.to), cc: valid(lists.cc), bcc: valid(lists.bcc) });
    }
    const all = [...lists.to, ...lists.cc, ...lists.bcc];
    if (!all.length) return setSendError('Add at least one recipient.');
    const bad = all.filter((r) => !r.valid);
    if (bad.length) return setSendError(`Fix ${bad.length === 1 ? 'this address' : 'these addresses'} first: ${bad.map((r) => r.address).join(', ')}`);
    if (uploads.some((u) => !u.error)) return setSendError('Wait for the attachments to finish uploading.');
    setSending(true);
    try {
      dirty.current = true;
      const result = await enqueue(async () => api.send(await writeFields(true)));
      rememberPeople(all);
      localStorage.removeItem(composeStorageKey(user.id));
      setSent(result);
    } catch (err) {
      setSendError(`Not sent: ${describeError(err)} Your message is kept as a draft.`);
    } finally {
      setSending(false);
    }
  };

  // Esc closes (and keeps the draft), wherever the focus is, unless a dialog or a suggestion list takes it
  const closeRef = useRef(close);
  closeRef.current = close;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented || document.querySelector('dialog[open], .overlay')) return;
      e.preventDefault();
      void closeRef.current();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // leaving with unsaved changes (another compose replaced this one): save them
  useEffect(
    () => () => {
      if (dirty.current) void saveNow().catch(() => undefined);
    },
    [saveNow],
  );

  const onDrop = (e: DragEvent) => {
    if (!e.dataTransfer.files.length) return;
    e.preventDefault();
    setDragging(false);
    void uploadFiles([...e.dataTransfer.files]);
  };

  if (sent) {
    return (
      <section className="pane compose-pane" aria-labelledby="compose-title">
        <div className="compose-head">
          <h2 id="compose-title" tabIndex={-1} ref={(el) => el?.focus()}>
            Message sent
          </h2>
        </div>
        <div className="compose-body">
          <p>
            “{subject || '(no subject)'}” was sent. A copy is in Sent. Delivery to each recipient:
          </p>
          <DeliveryTable messageId={sent.id} initial={sent.delivery} />
          <div className="form-actions">
            <button type="button" className="primary" onClick={onClose}>
              Close
            </button>
            <button type="button" onClick={() => onOpenSent(sent.id)}>
              Open in Sent
            </button>
          </div>
        </div>
      </section>
    );
  }

  const saveLabel = save.state === 'saving' ? 'Saving…' : save.state === 'saved' ? 'Draft saved' : save.state === 'error' ? 'Not saved' : '';
  return (
    <section
      className={`pane compose-pane${dragging ? ' dragging' : ''}`}
      aria-labelledby="compose-title"
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && capabilities.send) void send();
      }}
    >
      <div className="compose-head">
        <h2 id="compose-title">{TITLES[init.kind]}</h2>
        <span className="save-state muted" role="status" data-testid="save-state">
          {saveLabel}
        </span>
        <button type="button" className="icon-button" aria-label="Close (the draft is kept)" title="Close (Esc)" onClick={() => void close()}>
          ×
        </button>
      </div>
      <form className="compose-body" onSubmit={send} noValidate>
        {save.state === 'error' && (
          <div className="notice error" role="alert">
            <p>
              {save.error.code === 'PreconditionFailed' ? 'This draft was changed in another window.' : `Couldn't save the draft: ${describeError(save.error)}`} Your text is kept here.
            </p>
            <button
              type="button"
              onClick={() => {
                if (save.error.code === 'PreconditionFailed') etag.current = null;
                void saveNow(true).catch(() => undefined);
              }}
            >
              {save.error.code === 'PreconditionFailed' ? 'Keep my version' : 'Try again'}
            </button>
          </div>
        )}
        <AddressInput label="To" value={to} onChange={setTo} text={texts.to} onText={(t) => setTexts((x) => ({ ...x, to: t }))} autoFocus={init.kind === 'new' || init.kind === 'forward'} />
        {showCc ? (
          <>
            <AddressInput label="Cc" value={cc} onChange={setCc} text={texts.cc} onText={(t) => setTexts((x) => ({ ...x, cc: t }))} />
            <AddressInput label="Bcc" value={bcc} onChange={setBcc} text={texts.bcc} onText={(t) => setTexts((x) => ({ ...x, bcc: t }))} />
          </>
        ) : (
          <button type="button" className="link-button cc-toggle" onClick={() => setShowCc(true)}>
            Cc / Bcc
          </button>
        )}
        <div className="field">
          <label htmlFor="compose-subject">Subject</label>
          <input id="compose-subject" type="text" value={subject} maxLength={998} onChange={(e) => setSubject(e.target.value)} />
        </div>
        <div className="field grow">
          <label htmlFor="compose-text">Message</label>
          <textarea id="compose-text" ref={bodyRef} value={text} onChange={(e) => setText(e.target.value)} />
        </div>
        {(attachments.length > 0 || uploads.length > 0) && (
          <ul className="compose-files" aria-label="Attachments">
            {attachments.map((f) => (
              <li key={f.id} className="file">
                <span className="attachment-name">{f.filename}</span> <span className="muted">{formatSize(f.size)}</span>
                <button type="button" className="link-button" aria-label={`Remove ${f.filename}`} onClick={() => removeAttachment(f)}>
                  Remove
                </button>
              </li>
            ))}
            {uploads.map((u) => (
              <li key={u.key} className={`file${u.error ? ' failed' : ''}`} role={u.error ? 'alert' : undefined}>
                <span className="attachment-name">{u.name}</span> <span className="muted">{formatSize(u.size)}</span>
                {u.error ? (
                  <>
                    <span className="field-error">Not attached: {u.error}</span>
                    <button type="button" className="link-button" aria-label={`Dismiss ${u.name}`} onClick={() => setUploads((all) => all.filter((x) => x.key !== u.key))}>
                      Dismiss
                    </button>
                  </>
                ) : (
                  <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />
                )}
              </li>
            ))}
          </ul>
        )}
        {sendError && (
          <p className="notice error" role="alert">
            {sendError}
          </p>
        )}
        {!capabilities.send && (
          <p className="notice" role="note">
            Sending is not available on this server yet. Your message is saved in Drafts as you write.
          </p>
        )}
        <div className="form-actions">
          {capabilities.send && (
            <button type="submit" className="primary" disabled={sending} title="Send (Ctrl+Enter)">
              {sending ? 'Sending…' : 'Send'}
            </button>
          )}
          <button type="button" onClick={() => fileInput.current?.click()}>
            Attach files
          </button>
          <input ref={fileInput} type="file" multiple hidden aria-hidden="true" tabIndex={-1} data-testid="attach-input" onChange={(e) => {
            const files = [...(e.target.files ?? [])];
            e.target.value = '';
            void uploadFiles(files);
          }} />
          {!capabilities.send && (
            <button type="button" onClick={() => void saveNow(true).catch(() => undefined)}>
              Save draft
            </button>
          )}
          <button type="button" className="danger push-right" onClick={discard}>
            Discard
          </button>
        </div>
      </form>
    </section>
  );
}
