import { createStore, useStore } from '../store';

/** The address bar as state: path and query. Links are real URLs, so deep links and Back work. */
export interface Location {
  path: string;
  query: URLSearchParams;
}

const read = (): Location => ({ path: window.location.pathname, query: new URLSearchParams(window.location.search) });
const location = createStore<Location>(read());
window.addEventListener('popstate', () => location.set(read()));

export function useLocation(): Location {
  return useStore(location);
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const current = window.location.pathname + window.location.search;
  if (to === current) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  location.set(read());
}

/** What a path shows. */
export type Route =
  | { page: 'mail'; box: string; messageId: string | null; q: string }
  | { page: 'users' }
  | { page: 'domains' }
  | { page: 'settings' }
  | { page: 'login' }
  | { page: 'setup' };

export function parseRoute(loc: Location): Route {
  const parts = loc.path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts[0] === 'admin' && parts[1] === 'users') return { page: 'users' };
  if (parts[0] === 'admin' && parts[1] === 'domains') return { page: 'domains' };
  if (parts[0] === 'settings') return { page: 'settings' };
  if (parts[0] === 'login') return { page: 'login' };
  if (parts[0] === 'setup') return { page: 'setup' };
  if (parts[0] === 'mail' && parts[1]) return { page: 'mail', box: parts[1], messageId: parts[2] ?? null, q: loc.query.get('q') ?? '' };
  return { page: 'mail', box: 'inbox', messageId: null, q: loc.query.get('q') ?? '' };
}

export function mailPath(box: string, messageId?: string | null, q?: string): string {
  const base = `/mail/${encodeURIComponent(box)}${messageId ? `/${encodeURIComponent(messageId)}` : ''}`;
  return q ? `${base}?q=${encodeURIComponent(q)}` : base;
}
