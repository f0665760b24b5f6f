import { useCallback, useEffect, useState } from 'react';
import { api, fetchBlob, type ApiError } from '../api/client';
import type { AttachmentInfo, AuthView, DeliveryStatus, Mailbox, MessageView } from '../api/types';
import { ErrorNotice } from '../ui/ErrorNotice';
import { Dialog } from '../ui/Dialog';
import { toast } from '../ui/toasts';
import { formatAddress, formatSize, fullDate, personName } from './format';
import { HtmlBody, PlainBody } from './MailBody';
import { MoveSelect } from './MoveSelect';
import { rememberPeople } from '../compose/recent';

/** Messages whose remote content the user allowed, for this session. */
const remoteAllowed = new Set<string>();

export interface ReaderActions {
  reply(m: MessageView, all: boolean): void;
  forward(m: MessageView): void;
  remove(ids: string[]): void;
  move(ids: string[], mailboxId: string): void;
  setFlags(ids: string[], patch: { seen?: boolean; flagged?: boolean }): void;
  mailto(address: string): void;
  back(): void;
}

export function Reader({ id, mailboxes, actions, onLoaded }: { id: string; mailboxes: Mailbox[]; actions: ReaderActions; onLoaded(m: MessageView | null): void }) {
  const [message, setMessage] = useState<MessageView | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [allowRemote, setAllowRemote] = useState(remoteAllowed.has(id));
  const [blocked, setBlocked] = useState(0);

  useEffect(() => {
    const abort = new AbortController();
    setMessage(null);
    setError(null);
    setBlocked(0);
    setAllowRemote(remoteAllowed.has(id));
    api.getMail(id, abort.signal).then(
      (m) => {
        setMessage(m);
        onLoaded(m);
        rememberPeople([...(m.from ? [m.from] : []), ...m.to, ...m.cc]);
        if (!m.seen) actions.setFlags([m.id], { seen: true });
      },
      (err: ApiError) => {
        if (!abort.signal.aborted) setError(err);
      },
    );
    return () => abort.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, attempt]);

  const onBlocked = useCallback((n: number) => setBlocked(n), []);

  if (error) {
    return (
      <section className="pane reader-pane" aria-label="Message">
        <ReaderBack onBack={actions.back} />
        <ErrorNotice error={error} what="open this message" onRetry={error.status === 404 ? undefined : () => setAttempt((n) => n + 1)} />
      </section>
    );
  }
  if (!message) {
    return (
      <section className="pane reader-pane" aria-label="Message" aria-busy="true">
        <ReaderBack onBack={actions.back} />
        <p className="empty" role="status">
          Loading message…
        </p>
      </section>
    );
  }
  const m = message;
  const visibleAttachments = m.attachments.filter((a) => !(a.inline && a.contentId && m.html?.includes(`cid:${a.contentId.replace(/^<|>$/g, '')}`)));
  return (
    <section className="pane reader-pane" aria-labelledby="reader-subject">
      <div className="reader-toolbar" role="toolbar" aria-label="Message actions">
        <ReaderBack onBack={actions.back} />
        <button type="button" onClick={() => actions.reply(m, false)} title="Reply (r)">
          Reply
        </button>
        <button type="button" onClick={() => actions.reply(m, true)} title="Reply all (a)">
          Reply all
        </button>
        <button type="button" onClick={() => actions.forward(m)} title="Forward (f)">
          Forward
        </button>
        <button
          type="button"
          aria-pressed={m.flagged}
          title="Flag (s)"
          onClick={() => {
            setMessage({ ...m, flagged: !m.flagged });
            actions.setFlags([m.id], { flagged: !m.flagged });
          }}
        >
          {m.flagged ? '★ Flagged' : '☆ Flag'}
        </button>
        <button
          type="button"
          title="Mark unread (u)"
          onClick={() => {
            actions.setFlags([m.id], { seen: false });
            actions.back();
          }}
        >
          Mark unread
        </button>
        <MoveSelect mailboxes={mailboxes} current={m.mailbox} onMove={(to) => actions.move([m.id], to)} />
        <button type="button" className="danger" title="Delete (e or #)" onClick={() => actions.remove([m.id])}>
          Delete
        </button>
      </div>
      <article className="reader-scroll">
        <header className="reader-head">
          <h2 id="reader-subject" tabIndex={-1}>
            {m.subject || '(no subject)'}
          </h2>
          <dl className="reader-meta">
            <dt>From</dt>
            <dd>
              <strong>{personName(m.from)}</strong> {m.from?.name && <span className="muted">&lt;{m.from.address}&gt;</span>}
            </dd>
            {m.to.length > 0 && (
              <>
                <dt>To</dt>
                <dd>{m.to.map(formatAddress).join(', ')}</dd>
              </>
            )}
            {m.cc.length > 0 && (
              <>
                <dt>Cc</dt>
                <dd>{m.cc.map(formatAddress).join(', ')}</dd>
              </>
            )}
            {m.draft && m.draft.bcc.length > 0 && (
              <>
                <dt>Bcc</dt>
                <dd>{m.draft.bcc.map(formatAddress).join(', ')}</dd>
              </>
            )}
            <dt>Date</dt>
            <dd>
              <time dateTime={m.date ?? m.receivedAt}>{fullDate(m.date ?? m.receivedAt)}</time>
            </dd>
          </dl>
          {m.auth && <AuthBadges auth={m.auth} />}
        </header>
        {m.delivery && m.delivery.length > 0 && <DeliveryTable messageId={m.id} initial={m.delivery} />}
        {blocked > 0 && !allowRemote && (
          <div className="notice remote" role="note">
            <p>
              Remote images and other content from the internet are blocked in this message ({blocked}), so the sender cannot see when you read it.
            </p>
            <button
              type="button"
              onClick={() => {
                remoteAllowed.add(m.id);
                setAllowRemote(true);
              }}
            >
              Show remote content
            </button>
          </div>
        )}
        {((m.html ? m.htmlTruncated : m.textTruncated) || m.parseError) && (
          <p className="notice" role="note">
            {m.parseError ? 'This message could not be read completely.' : 'This message is long: only its beginning is shown.'} The whole message is in the original (Download original, below).
          </p>
        )}
        <div className="reader-body">{m.html ? <HtmlBody message={m} allowRemote={allowRemote} onBlocked={onBlocked} onMailto={actions.mailto} /> : <PlainBody text={m.text ?? ''} />}</div>
        {visibleAttachments.length > 0 && <Attachments message={m} attachments={visibleAttachments} />}
        <p className="reader-foot">
          <a href={api.rawUrl(m.id)} onClick={(e) => downloadFromApi(e, api.rawUrl(m.id), `${m.id}.eml`)}>
            Download original (.eml)
          </a>
        </p>
      </article>
    </section>
  );
}

function ReaderBack({ onBack }: { onBack(): void }) {
  return (
    <button type="button" className="back-button" onClick={onBack} aria-label="Back to the list">
      ← Back
    </button>
  );
}

const AUTH_HELP: Record<string, string> = {
  spf: 'SPF: was the sending server allowed to send for this domain',
  dkim: 'DKIM: is the message signed by the domain, unchanged',
  dmarc: "DMARC: does the message pass its domain's published policy",
  arc: 'ARC: authentication kept by forwarding servers',
};

export function AuthBadges({ auth }: { auth: AuthView }) {
  const entries = (['spf', 'dkim', 'dmarc', 'arc'] as const).filter((k) => auth[k]);
  if (!entries.length) return null;
  return (
    <ul className="auth-badges" aria-label="Sender authentication">
      {entries.map((k) => {
        const word = String(auth[k]);
        const kind = word === 'pass' ? 'pass' : word === 'fail' || word === 'permerror' ? 'fail' : 'other';
        return (
          <li key={k} className={`badge ${kind}`} title={AUTH_HELP[k]}>
            {k.toUpperCase()} {word}
          </li>
        );
      })}
    </ul>
  );
}

async function downloadFromApi(e: React.MouseEvent, path: string, filename: string): Promise<void> {
  e.preventDefault();
  try {
    const url = URL.createObjectURL(await fetchBlob(path));
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    toast(`Couldn't download ${filename}: ${(err as Error).message}`, { kind: 'error' });
  }
}

function Attachments({ message, attachments }: { message: MessageView; attachments: AttachmentInfo[] }) {
  const [preview, setPreview] = useState<{ url: string; name: string } | null>(null);
  return (
    <section className="attachments" aria-label="Attachments">
      <h3>
        {attachments.length} attachment{attachments.length === 1 ? '' : 's'}
      </h3>
      <ul>
        {attachments.map((a) => {
          const name = a.filename || `attachment-${a.id}`;
          const path = api.attachmentUrl(message.id, a.id);
          return (
            <li key={a.id} className="attachment">
              {a.contentType.startsWith('image/') && !a.contentType.includes('svg') && <Thumbnail path={path} name={name} onOpen={(url) => setPreview({ url, name })} />}
              <span className="attachment-name">{name}</span>
              <span className="muted">
                {formatSize(a.size)} · {a.contentType}
              </span>
              <a className="button" href={path} onClick={(e) => downloadFromApi(e, path, name)} aria-label={`Download ${name}`}>
                Download
              </a>
            </li>
          );
        })}
      </ul>
      {preview && (
        <Dialog title={preview.name} onClose={() => setPreview(null)} className="preview">
          <img src={preview.url} alt={preview.name} className="preview-image" />
        </Dialog>
      )}
    </section>
  );
}

function Thumbnail({ path, name, onOpen }: { path: string; name: string; onOpen(url: string): void }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let created: string | null = null;
    let cancelled = false;
    fetchBlob(path).then(
      (blob) => {
        if (cancelled) return;
        created = URL.createObjectURL(blob);
        setUrl(created);
      },
      () => undefined,
    );
    return () => {
      cancelled = true;
      if (created) URL.revokeObjectURL(created);
    };
  }, [path]);
  if (!url) return <span className="thumb thumb-empty" aria-hidden="true" />;
  return (
    <button type="button" className="thumb" onClick={() => onOpen(url)} aria-label={`Preview ${name}`}>
      <img src={url} alt="" />
    </button>
  );
}

const PENDING = new Set(['queued', 'deferred']);

/** Per-recipient delivery of a sent message, refreshed while any is still on its way. */
export function DeliveryTable({ messageId, initial }: { messageId: string; initial: DeliveryStatus[] }) {
  const [rows, setRows] = useState(initial);
  useEffect(() => setRows(initial), [initial]);
  useEffect(() => {
    if (!rows.some((r) => PENDING.has(r.status))) return;
    const t = setTimeout(() => {
      api.getMail(messageId).then(
        (m) => m.delivery && setRows(m.delivery),
        () => undefined,
      );
    }, 3000);
    return () => clearTimeout(t);
  }, [rows, messageId]);
  return (
    <section className="delivery" aria-label="Delivery status">
      <h3>Delivery</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">Recipient</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.recipient} data-testid="delivery-row">
              <td>{r.recipient}</td>
              <td>
                <span className={`badge ${r.status === 'sent' ? 'pass' : r.status === 'failed' ? 'fail' : 'other'}`}>{r.status}</span>
              </td>
              <td>{r.attempts}</td>
              <td>
                {r.detail ?? ''}
                {r.nextAttemptAt && PENDING.has(r.status) ? ` (next try ${fullDate(r.nextAttemptAt)})` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
