import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, type Capabilities } from '../api/client';
import type { Mailbox, MessageListItem, MessageView, User } from '../api/types';
import { mailPath, navigate, type Route } from '../app/router';
import { Compose, type ComposeInit } from '../compose/Compose';
import { forward, replyTo } from '../compose/quote';
import { describeError } from '../ui/ErrorNotice';
import { toast } from '../ui/toasts';
import { findBox } from './format';
import { useMessageList } from './message-list-state';
import { MessageList } from './MessageList';
import { MoveSelect } from './MoveSelect';
import { Reader, type ReaderActions } from './Reader';

interface Props {
  route: Extract<Route, { page: 'mail' }>;
  me: User;
  capabilities: Capabilities;
  mailboxes: Mailbox[];
  /** Changes the local folder counts at once (the next poll brings the server's). */
  adjustCounts(fn: (boxes: Mailbox[]) => Mailbox[]): void;
  refreshMailboxes(): void;
  compose: { init: ComposeInit; key: number } | null;
  openCompose(init: ComposeInit): void;
  closeCompose(): void;
  /** Registered so the folder list can drop messages here. */
  registerMove(fn: (ids: string[], mailboxId: string) => void): void;
}

const isTyping = (el: EventTarget | null) => {
  const t = el as HTMLElement | null;
  return !!t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
};

/** The three panes: folder list is the shell's; here are the message list and the reader (or compose). */
export function MailPage({ route, me, capabilities, mailboxes, adjustCounts, refreshMailboxes, compose, openCompose, closeCompose, registerMove }: Props) {
  const searching = route.q !== '';
  const box = route.box === 'all' ? null : findBox(mailboxes, route.box);
  const list = useMessageList(box?.id ?? null, box || searching ? route.q : '');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [cursor, setCursor] = useState(-1);
  const openId = route.messageId;
  const current = useRef<MessageView | null>(null);
  const items = useMemo(() => list?.items ?? [], [list?.items]);

  useEffect(() => {
    setSelected(new Set());
    setCursor(-1);
  }, [list]);

  // the cursor follows the open message
  useEffect(() => {
    if (!openId) return;
    const i = items.findIndex((m) => m.id === openId);
    if (i >= 0) setCursor(i);
  }, [openId, items]);

  // new mail in this folder (the shell polls the counts): merge the first page again
  const countsKey = box ? `${box.total}/${box.unread}` : '';
  const lastCounts = useRef(countsKey);
  useEffect(() => {
    if (lastCounts.current !== countsKey && list && !searching) void list.refreshTop().catch(() => undefined);
    lastCounts.current = countsKey;
  }, [countsKey, list, searching]);

  // a draft opens in compose, not in the reader
  useEffect(() => {
    if (!openId || box?.specialUse !== 'drafts') return;
    api.getMailWithEtag(openId).then(
      ({ message: m, etag }) => {
        if (m.draft) openCompose({ kind: 'draft', draftId: m.id, etag, ...m.draft, attachments: m.draftAttachments ?? [] });
        navigate(mailPath('drafts'), { replace: true });
      },
      (err) => toast(`Couldn't open the draft: ${describeError(err)}`, { kind: 'error' }),
    );
  }, [openId, box?.specialUse, openCompose]);

  const boxKeyOf = route.box;
  const hrefOf = useCallback((m: MessageListItem) => mailPath(boxKeyOf, m.id, route.q), [boxKeyOf, route.q]);
  const openAt = useCallback(
    (index: number) => {
      const m = items[index];
      if (m) navigate(hrefOf(m));
      setCursor(index);
    },
    [items, hrefOf],
  );

  const unreadDelta = (ids: string[], seen: boolean) => {
    const byBox = new Map<string, number>();
    for (const m of items) if (ids.includes(m.id) && m.seen !== seen) byBox.set(m.mailbox, (byBox.get(m.mailbox) ?? 0) + (seen ? -1 : 1));
    if (byBox.size) adjustCounts((boxes) => boxes.map((b) => (byBox.has(b.id) ? { ...b, unread: Math.max(0, b.unread + byBox.get(b.id)!) } : b)));
  };

  const afterRemoving = (ids: string[]) => {
    if (openId && ids.includes(openId)) {
      const i = items.findIndex((m) => m.id === openId);
      const next = items.slice(i + 1).find((m) => !ids.includes(m.id)) ?? items.slice(0, i).reverse().find((m) => !ids.includes(m.id));
      navigate(next ? hrefOf(next) : mailPath(boxKeyOf, null, route.q), { replace: true });
    }
    list?.remove(ids);
    setSelected((s) => new Set([...s].filter((id) => !ids.includes(id))));
  };

  const setFlags = (ids: string[], patch: { seen?: boolean; flagged?: boolean }) => {
    if (patch.seen !== undefined) unreadDelta(ids, patch.seen);
    const before = items.filter((m) => ids.includes(m.id));
    list?.update(ids, patch);
    const request = ids.length === 1 ? api.updateMail(ids[0], patch).then((m) => [m]) : api.updateMails({ ids, ...patch }).then((r) => r.items);
    request.then(
      (updated) => list?.replace(updated),
      (err) => {
        list?.replace(before);
        refreshMailboxes();
        toast(`Couldn't change the message${ids.length > 1 ? 's' : ''}: ${describeError(err)}`, { kind: 'error' });
      },
    );
  };

  const move = (ids: string[], mailboxId: string, opts: { undoable?: boolean } = {}) => {
    const target = mailboxes.find((m) => m.id === mailboxId);
    const from = new Map(items.filter((m) => ids.includes(m.id)).map((m) => [m.id, m.mailbox]));
    if (box && mailboxId !== box.id) afterRemoving(ids);
    api.updateMails({ ids, mailbox: mailboxId }).then(
      () => {
        refreshMailboxes();
        const origin = [...new Set(from.values())];
        toast(`${ids.length === 1 ? 'Message' : `${ids.length} messages`} moved to ${target?.name ?? 'folder'}.`, {
          action: opts.undoable !== false && origin.length === 1 ? { label: 'Undo', run: () => undoMove(ids, origin[0]) } : undefined,
        });
      },
      (err) => {
        toast(`Couldn't move: ${describeError(err)}`, { kind: 'error' });
        void list?.refreshTop();
        refreshMailboxes();
      },
    );
  };
  const undoMove = (ids: string[], to: string) =>
    api.updateMails({ ids, mailbox: to }).then(
      () => {
        refreshMailboxes();
        void list?.refreshTop();
      },
      (err) => toast(`Couldn't undo: ${describeError(err)}`, { kind: 'error' }),
    );
  const moveRef = useRef(move);
  moveRef.current = move;
  useEffect(() => registerMove((ids, to) => moveRef.current(ids, to)), [registerMove]);

  const remove = (ids: string[]) => {
    const trashId = mailboxes.find((m) => m.specialUse === 'trash')?.id;
    const origin = [...new Set(items.filter((m) => ids.includes(m.id)).map((m) => m.mailbox))];
    afterRemoving(ids);
    api.deleteMails(ids).then(
      (r) => {
        refreshMailboxes();
        if (r.deleted.length) toast(`${r.deleted.length === 1 ? 'Message' : `${r.deleted.length} messages`} deleted for good.`);
        else toast(`${r.trashed.length === 1 ? 'Message' : `${r.trashed.length} messages`} moved to Trash.`, { action: trashId && origin.length === 1 ? { label: 'Undo', run: () => undoMove(r.trashed, origin[0]) } : undefined });
      },
      (err) => {
        toast(`Couldn't delete: ${describeError(err)}`, { kind: 'error' });
        void list?.refreshTop();
      },
    );
  };

  const actions: ReaderActions = {
    reply: (m, all) => openCompose(replyTo(m, all, me)),
    forward: (m) => openCompose(forward(m)),
    remove,
    move,
    setFlags,
    mailto: (address) => openCompose({ kind: 'new', to: [{ address, name: '' }], cc: [], bcc: [], subject: '', text: '', inReplyTo: null }),
    back: () => navigate(mailPath(boxKeyOf, null, route.q)),
  };
  const actionsRef = useRef(actions);
  actionsRef.current = actions;
  const onLoaded = useCallback((m: MessageView | null) => (current.current = m), []);

  // keyboard: the mail shortcuts (the shell handles c, /, ? and Esc for its own overlays). The handler
  // reads the latest state through a ref, and j/k move from where the last key left the cursor, so keys
  // typed faster than the screen renders still each count.
  const keyState = useRef({ items, cursor, openId, selected, compose, openAt });
  keyState.current = { ...keyState.current, items, openId, selected, compose, openAt };
  useEffect(() => {
    keyState.current.cursor = cursor;
  }, [cursor]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target) || document.querySelector('dialog[open], .overlay')) return;
      const { items, cursor, openId, selected, compose, openAt } = keyState.current;
      if (compose) return; // compose has the keyboard (Esc closes it)
      const a = actionsRef.current;
      const openMessage = openId ? items.find((m) => m.id === openId) : undefined;
      const target = openMessage ?? items[cursor];
      const targets = selected.size ? [...selected] : target ? [target.id] : [];
      switch (e.key) {
        case 'j':
        case 'k': {
          const base = cursor >= 0 ? cursor : openMessage ? items.indexOf(openMessage) : -1;
          const next = e.key === 'j' ? Math.min(items.length - 1, base + 1) : Math.max(0, base - 1);
          const to = next >= 0 && next !== base ? next : base < 0 && items.length ? 0 : -1;
          if (to >= 0) {
            keyState.current.cursor = to;
            keyState.current.openId = items[to].id;
            openAt(to);
          }
          break;
        }
        case 'o':
        case 'Enter':
          if (items[cursor] && !openId) openAt(cursor);
          else document.getElementById('reader-subject')?.focus();
          break;
        case 'r':
        case 'a':
          if (current.current && openId === current.current.id) a.reply(current.current, e.key === 'a');
          break;
        case 'f':
          if (current.current && openId === current.current.id) a.forward(current.current);
          break;
        case 'e':
        case '#':
          if (targets.length) a.remove(targets);
          break;
        case 's':
          if (target) a.setFlags(selected.size ? targets : [target.id], { flagged: !target.flagged });
          break;
        case 'u':
          if (target) a.setFlags(selected.size ? targets : [target.id], { seen: !target.seen });
          break;
        case 'x':
          if (target) setSelected((s) => (s.has(target.id) ? new Set([...s].filter((id) => id !== target.id)) : new Set([...s, target.id])));
          break;
        case 'Escape':
          if (selected.size) setSelected(new Set());
          else if (openId) a.back();
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (!box && !searching) {
    return (
      <section className="pane list-pane" aria-label="Messages">
        <p className="empty">{mailboxes.length ? 'This folder does not exist (any more).' : 'Loading folders…'}</p>
      </section>
    );
  }

  const title = searching ? `Search: “${route.q}”${box ? ` in ${box.name}` : ''}` : box!.name;
  const selectedIds = [...selected];
  const selectedItems = items.filter((m) => selected.has(m.id));
  const toolbar = selected.size ? (
    <div className="list-toolbar" role="toolbar" aria-label="Selected messages">
      <button type="button" onClick={() => setFlags(selectedIds, { seen: true })}>
        Mark read
      </button>
      <button type="button" onClick={() => setFlags(selectedIds, { seen: false })}>
        Mark unread
      </button>
      <button type="button" onClick={() => setFlags(selectedIds, { flagged: !selectedItems.every((m) => m.flagged) })}>
        {selectedItems.every((m) => m.flagged) ? 'Unflag' : 'Flag'}
      </button>
      <MoveSelect mailboxes={mailboxes} current={box?.id ?? null} onMove={(to) => move(selectedIds, to)} />
      <button type="button" className="danger" onClick={() => remove(selectedIds)}>
        Delete
      </button>
    </div>
  ) : null;

  const paneView = compose ? 'compose' : openId ? 'reader' : 'list';
  return (
    <div className="mail-panes" data-pane={paneView}>
      {list && (
        <MessageList
          title={title}
          list={list}
          total={searching ? null : box!.total}
          box={box}
          openId={openId}
          hrefOf={hrefOf}
          selected={selected}
          onSelect={setSelected}
          onToggleFlag={(m) => setFlags([m.id], { flagged: !m.flagged })}
          cursorIndex={cursor}
          onCursor={setCursor}
          toolbar={toolbar}
        />
      )}
      {compose ? (
        <Compose key={compose.key} init={compose.init} user={me} capabilities={capabilities} onClose={closeCompose} onOpenSent={(id) => (closeCompose(), navigate(mailPath('sent', id)))} />
      ) : openId && box?.specialUse !== 'drafts' ? (
        <Reader key={openId} id={openId} mailboxes={mailboxes} actions={actions} onLoaded={onLoaded} />
      ) : (
        <section className="pane reader-pane reader-empty" aria-label="Message">
          <p className="muted">Select a message to read it. Press <kbd>?</kbd> for keyboard shortcuts.</p>
        </section>
      )}
    </div>
  );
}
