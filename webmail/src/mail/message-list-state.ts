import { useEffect, useMemo, useReducer } from 'react';
import { api, type ApiError, type ListQuery } from '../api/client';
import type { MessageListItem } from '../api/types';

const newerFirst = (a: MessageListItem, b: MessageListItem) => (a.receivedAt === b.receivedAt ? (a.id < b.id ? 1 : a.id > b.id ? -1 : 0) : a.receivedAt < b.receivedAt ? 1 : -1);

/**
 * One folder's (or one search's) messages, loaded page by page with the API's
 * keyset cursor as the list scrolls: only what was scrolled past is loaded, and
 * pages are fetched one after the other (the cursor allows nothing else).
 */
export class MessageListController {
  items: MessageListItem[] = [];
  done = false;
  loading = false;
  error: ApiError | null = null;
  /** Set once the first page has arrived. */
  loaded = false;
  private cursor: string | null = null;
  private wanted = 1;
  private disposed = false;
  private ids = new Set<string>();

  constructor(
    readonly query: Omit<ListQuery, 'limit' | 'cursor'>,
    private readonly changed: () => void,
  ) {}

  /** Asks for everything up to `index` (the end of the visible rows, plus some). */
  ensure(index: number): void {
    this.wanted = index + 1;
    if (!this.loading && !this.error) void this.pump();
  }

  retry(): void {
    this.error = null;
    void this.pump();
  }

  dispose(): void {
    this.disposed = true;
  }

  private async pump(): Promise<void> {
    if (this.loading) return;
    this.loading = true;
    this.changed();
    try {
      while (!this.done && !this.disposed && (!this.loaded || this.items.length < this.wanted)) {
        const missing = this.wanted - this.items.length;
        const limit = !this.loaded ? 50 : missing > 100 ? 200 : 100;
        const page = await api.listMails({ ...this.query, limit, cursor: this.cursor ?? undefined });
        if (this.disposed) return;
        for (const item of page.items) {
          if (this.ids.has(item.id)) continue;
          this.ids.add(item.id);
          this.items.push(item);
        }
        this.items = [...this.items];
        this.cursor = page.nextCursor;
        this.done = !page.nextCursor;
        if (!this.loaded) {
          this.loaded = true;
          performance.mark('nimbus:first-page');
        }
        this.changed();
      }
    } catch (err) {
      if (!this.disposed) this.error = err as ApiError;
    } finally {
      this.loading = false;
      if (!this.disposed) this.changed();
    }
  }

  /**
   * New mail: the first page again, merged in order; flags of loaded messages follow the server.
   * A list whose first page failed (the server was unreachable) loads it now instead.
   */
  async refreshTop(): Promise<void> {
    if (this.disposed) return;
    if (!this.loaded) {
      if (this.error && !this.loading) this.retry();
      return;
    }
    const page = await api.listMails({ ...this.query, limit: 50 });
    if (this.disposed) return;
    const fresh = page.items.filter((m) => !this.ids.has(m.id));
    if (fresh.length === page.items.length && page.nextCursor && this.items.length) {
      // more new mail than a page: start over from the top
      this.items = [...page.items];
      this.ids = new Set(page.items.map((m) => m.id));
      this.cursor = page.nextCursor;
      this.done = false;
      this.changed();
      return;
    }
    const byId = new Map(page.items.map((m) => [m.id, m]));
    const oldest = this.items[this.items.length - 1];
    const merged = this.items.map((m) => byId.get(m.id) ?? m);
    for (const m of fresh) {
      if (!this.done && oldest && newerFirst(m, oldest) > 0) continue; // older than what is loaded: comes with paging
      merged.push(m);
      this.ids.add(m.id);
    }
    merged.sort(newerFirst);
    this.items = merged;
    this.changed();
  }

  update(ids: string[], patch: Partial<MessageListItem>): void {
    const set = new Set(ids);
    this.items = this.items.map((m) => (set.has(m.id) ? { ...m, ...patch } : m));
    this.changed();
  }

  replace(items: MessageListItem[]): void {
    const byId = new Map(items.map((m) => [m.id, m]));
    this.items = this.items.map((m) => byId.get(m.id) ?? m);
    this.changed();
  }

  remove(ids: string[]): void {
    const set = new Set(ids);
    this.items = this.items.filter((m) => !set.has(m.id));
    ids.forEach((id) => this.ids.delete(id));
    this.changed();
  }
}

/** The controller for the current folder/search; a new one (from the first page) whenever the query changes. */
export function useMessageList(mailbox: string | null, q: string): MessageListController | null {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  const controller = useMemo(() => (mailbox || q ? new MessageListController({ mailbox: mailbox ?? undefined, q: q || undefined }, bump) : null), [mailbox, q]);
  useEffect(() => {
    controller?.ensure(0); // the first page
    return () => controller?.dispose();
  }, [controller]);
  return controller;
}
