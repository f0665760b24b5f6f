import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef, type DragEvent, type KeyboardEvent, type MouseEvent } from 'react';
import type { Mailbox, MessageListItem } from '../api/types';
import { navigate } from '../app/router';
import { ErrorNotice } from '../ui/ErrorNotice';
import { Icon } from '../ui/Icon';
import { listDate, personName } from './format';
import type { MessageListController } from './message-list-state';

export const DRAG_TYPE = 'application/x-nimbus-ids';

interface Props {
  title: string;
  list: MessageListController;
  /** Rows to show: the folder's total when known (the scrollbar then spans the whole folder), else what is loaded. */
  total: number | null;
  box: Mailbox | null;
  openId: string | null;
  hrefOf(item: MessageListItem): string;
  selected: Set<string>;
  onSelect(next: Set<string>): void;
  onToggleFlag(item: MessageListItem): void;
  /** Where keyboard focus should be (the list's current row); -1 when none. */
  cursorIndex: number;
  onCursor(index: number): void;
  toolbar: React.ReactNode;
}

const ROW_HEIGHT = 72;

export function MessageList({ title, list, total, box, openId, hrefOf, selected, onSelect, onToggleFlag, cursorIndex, onCursor, toolbar }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const items = list.items;
  const count = list.done ? items.length : Math.max(items.length + (list.loaded ? 1 : 0), total ?? 0);
  const virtualizer = useVirtualizer({ count, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 8 });
  const virtualItems = virtualizer.getVirtualItems();
  const lastVisible = virtualItems.length ? virtualItems[virtualItems.length - 1].index : 0;
  const showSender = box?.specialUse === 'sent' || box?.specialUse === 'drafts' ? 'to' : 'from';
  const lastClicked = useRef<number>(-1);

  useEffect(() => {
    if (list.loaded && lastVisible + 20 >= items.length && !list.done) list.ensure(lastVisible + 40);
  }, [lastVisible, items.length, list]);

  // keep the current row in view (j/k, arrows)
  useEffect(() => {
    if (cursorIndex >= 0) virtualizer.scrollToIndex(cursorIndex, { align: 'auto' });
  }, [cursorIndex, virtualizer]);

  const toggle = (index: number, item: MessageListItem, e: MouseEvent | KeyboardEvent) => {
    const next = new Set(selected);
    if (e.shiftKey && lastClicked.current >= 0) {
      const [a, b] = [Math.min(lastClicked.current, index), Math.max(lastClicked.current, index)];
      const on = !selected.has(item.id);
      for (let i = a; i <= b; i++) if (items[i]) (on ? next.add(items[i].id) : next.delete(items[i].id));
    } else if (next.has(item.id)) next.delete(item.id);
    else next.add(item.id);
    lastClicked.current = index;
    onSelect(next);
  };

  const onDragStart = (e: DragEvent, item: MessageListItem) => {
    const ids = selected.has(item.id) ? [...selected] : [item.id];
    e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(ids));
    e.dataTransfer.setData('text/plain', ids.length === 1 ? item.subject : `${ids.length} messages`);
    e.dataTransfer.effectAllowed = 'move';
  };

  const onRowKey = (e: KeyboardEvent, index: number) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const next = Math.max(0, Math.min(count - 1, index + (e.key === 'ArrowDown' ? 1 : -1)));
      onCursor(next);
    } else if (e.key === ' ' && items[index]) {
      e.preventDefault();
      toggle(index, items[index], e);
    }
  };

  // focus follows the cursor once its row is rendered
  useEffect(() => {
    if (cursorIndex < 0 || !scroller.current?.contains(document.activeElement)) return;
    const link = scroller.current.querySelector<HTMLElement>(`[data-index="${cursorIndex}"] .row-open`);
    link?.focus({ preventScroll: true });
  });

  const allLoadedSelected = items.length > 0 && items.every((m) => selected.has(m.id));
  return (
    <section className="pane list-pane" aria-labelledby="list-title">
      <div className="list-head">
        <input
          type="checkbox"
          aria-label={allLoadedSelected ? 'Clear selection' : 'Select all loaded messages'}
          checked={allLoadedSelected}
          onChange={() => onSelect(allLoadedSelected ? new Set() : new Set(items.map((m) => m.id)))}
        />
        <h2 id="list-title" className="list-title">
          {title}
        </h2>
        <span className="list-count muted" aria-live="polite">
          {selected.size ? `${selected.size} selected` : total !== null ? `${total.toLocaleString()} message${total === 1 ? '' : 's'}` : list.loaded ? `${items.length.toLocaleString()}${list.done ? '' : '+'} found` : ''}
        </span>
      </div>
      {toolbar}
      {list.error && !items.length ? (
        <ErrorNotice error={list.error} what="load the messages" onRetry={() => list.retry()} />
      ) : list.loaded && !items.length ? (
        <p className="empty">{title.startsWith('Search') ? 'No messages match your search.' : 'No messages here.'}</p>
      ) : !list.loaded ? (
        <p className="empty" role="status">
          Loading messages…
        </p>
      ) : null}
      <div ref={scroller} className="list-scroll" data-testid="message-list-scroll">
        <div role="list" aria-label={`Messages in ${title}`} aria-busy={list.loading} style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {virtualItems.map((v) => {
            const item = items[v.index];
            const style = { position: 'absolute' as const, top: 0, left: 0, right: 0, height: v.size, transform: `translateY(${v.start}px)` };
            if (!item) {
              return (
                <div key={v.key} role="listitem" data-index={v.index} className="row row-placeholder" style={style} aria-hidden="true">
                  {list.error && v.index === items.length ? (
                    <button type="button" className="link-button" onClick={() => list.retry()}>
                      Couldn't load more messages. Try again
                    </button>
                  ) : (
                    <span className="placeholder-bar" />
                  )}
                </div>
              );
            }
            const people = showSender === 'to' ? `To: ${item.to.map((a) => a.name || a.address).join(', ') || '(no recipients)'}` : personName(item.from);
            const isOpen = item.id === openId;
            const isCursor = v.index === cursorIndex || (cursorIndex < 0 && v.index === 0);
            return (
              <div
                key={item.id}
                role="listitem"
                data-index={v.index}
                data-testid="message-row"
                data-id={item.id}
                className={`row${item.seen ? '' : ' unread'}${isOpen ? ' open' : ''}${selected.has(item.id) ? ' selected' : ''}`}
                style={style}
                draggable
                onDragStart={(e) => onDragStart(e, item)}
              >
                <input type="checkbox" className="row-check" tabIndex={-1} aria-label={`Select message from ${personName(item.from)}: ${item.subject || '(no subject)'}`} checked={selected.has(item.id)} onClick={(e) => toggle(v.index, item, e)} onChange={() => undefined} />
                <a
                  className="row-open"
                  href={hrefOf(item)}
                  tabIndex={isCursor ? 0 : -1}
                  aria-current={isOpen ? 'true' : undefined}
                  onClick={(e) => {
                    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                    e.preventDefault();
                    onCursor(v.index);
                    navigate(hrefOf(item));
                  }}
                  onFocus={() => cursorIndex !== v.index && onCursor(v.index)}
                  onKeyDown={(e) => onRowKey(e, v.index)}
                >
                  <span className="row-line1">
                    {!item.seen && <span className="unread-dot" aria-label="Unread" role="img" />}
                    <span className="row-from">{people}</span>
                    {item.hasAttachments && (
                      <span className="row-attach" role="img" aria-label="Has attachments" title="Has attachments">
                        <Icon name="clip" />
                      </span>
                    )}
                    <time className="row-date" dateTime={item.date ?? item.receivedAt}>
                      {listDate(item.date ?? item.receivedAt)}
                    </time>
                  </span>
                  <span className="row-subject">{item.subject || '(no subject)'}</span>
                  <span className="row-snippet">{item.snippet}</span>
                </a>
                <button type="button" className={`flag-button${item.flagged ? ' on' : ''}`} tabIndex={-1} aria-pressed={item.flagged} aria-label={item.flagged ? 'Unflag' : 'Flag'} title={item.flagged ? 'Unflag (s)' : 'Flag (s)'} onClick={() => onToggleFlag(item)}>
                  {item.flagged ? '★' : '☆'}
                </button>
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
