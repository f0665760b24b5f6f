import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, connection, saveSession, type ApiError, type Capabilities } from '../api/client';
import type { Mailbox, User } from '../api/types';
import { DomainsPage } from '../admin/Domains';
import { UsersPage } from '../admin/Users';
import { composeStorageKey, type ComposeInit } from '../compose/Compose';
import { FolderList } from '../mail/FolderList';
import { boxKey, findBox } from '../mail/format';
import { MailPage } from '../mail/MailPage';
import { SettingsPage } from '../settings/Settings';
import { useStore } from '../store';
import { ShortcutHelp } from '../ui/ShortcutHelp';
import { Toasts } from '../ui/toasts';
import { mailPath, navigate, type Route } from './router';

/** How often the folder counts are fetched (new mail shows up within this). Tests may shorten it. */
const POLL_MS = Number(localStorage.getItem('nimbus.pollMs')) || 10_000;

function useMailboxes(initial: Mailbox[] | null) {
  const [boxes, setBoxes] = useState<Mailbox[] | null>(initial);
  const [error, setError] = useState<ApiError | null>(null);
  const inFlight = useRef(false);
  const refresh = useCallback(async () => {
    if (inFlight.current) return;
    inFlight.current = true;
    try {
      setBoxes(await api.mailboxes());
      setError(null);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      inFlight.current = false;
    }
  }, []);
  useEffect(() => {
    if (!initial) void refresh();
    const timer = setInterval(() => document.visibilityState !== 'hidden' && void refresh(), POLL_MS);
    const onVisible = () => document.visibilityState === 'visible' && void refresh();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('online', onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('online', onVisible);
    };
  }, [refresh]);
  return { boxes, error, refresh, setBoxes };
}

function restoredCompose(userId: string): ComposeInit | null {
  try {
    const v = JSON.parse(localStorage.getItem(composeStorageKey(userId)) ?? 'null') as ComposeInit | null;
    return v && Array.isArray(v.to) ? { ...v, restored: true } : null;
  } catch {
    return null;
  }
}

const isTyping = (el: EventTarget | null) => {
  const t = el as HTMLElement | null;
  return !!t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
};

/** The signed-in app: top bar with search, folders, the page, toasts, the connection banner, shortcuts. */
export function Shell({ me, capabilities, route, initialMailboxes }: { me: User; capabilities: Capabilities; route: Route; initialMailboxes: Mailbox[] | null }) {
  const { boxes, error, refresh, setBoxes } = useMailboxes(initialMailboxes);
  const conn = useStore(connection);
  const [compose, setCompose] = useState<{ init: ComposeInit; key: number } | null>(() => {
    const init = restoredCompose(me.id);
    return init ? { init, key: 1 } : null;
  });
  const [help, setHelp] = useState(false);
  const [navOpen, setNavOpen] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const search = useRef<HTMLInputElement>(null);
  const moveTo = useRef<(ids: string[], mailboxId: string) => void>(() => undefined);
  const mailRoute = route.page === 'mail' ? route : null;
  const [query, setQuery] = useState(mailRoute?.q ?? '');
  useEffect(() => setQuery(mailRoute?.q ?? ''), [mailRoute?.q]);

  const openCompose = useCallback((init: ComposeInit) => {
    setCompose((c) => ({ init, key: (c?.key ?? 1) + 1 }));
    if (window.location.pathname.split('/')[1] !== 'mail') navigate(mailPath('inbox'));
  }, []);
  const newMessage = useCallback(() => openCompose({ kind: 'new', to: [], cc: [], bcc: [], subject: '', text: '', inReplyTo: null }), [openCompose]);

  // tab title: unread in the Inbox, then where you are
  const inbox = boxes?.find((m) => m.specialUse === 'inbox');
  const currentBox = mailRoute && boxes ? findBox(boxes, mailRoute.box) : null;
  const place = mailRoute ? (mailRoute.q ? 'Search' : (currentBox?.name ?? 'Mail')) : route.page === 'users' ? 'Users' : route.page === 'domains' ? 'Domains' : 'Settings';
  useEffect(() => {
    document.title = `${inbox?.unread ? `(${inbox.unread}) ` : ''}${place} – Nimbus Mail`;
  }, [inbox?.unread, place]);

  // global shortcuts
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
      if (isTyping(e.target)) {
        if (e.key === 'Escape' && e.target === search.current) search.current?.blur();
        return;
      }
      if (document.querySelector('dialog[open], .overlay')) return;
      if (e.key === '?') {
        e.preventDefault();
        setHelp(true);
      } else if (e.key === 'c' && !compose) {
        e.preventDefault();
        newMessage();
      } else if (e.key === '/') {
        e.preventDefault();
        search.current?.focus();
        search.current?.select();
      } else if (e.key === 'Escape' && (navOpen || menuOpen)) {
        setNavOpen(false);
        setMenuOpen(false);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [compose, newMessage, navOpen, menuOpen]);

  const submitSearch = (e: FormEvent) => {
    e.preventDefault();
    const q = query.trim();
    navigate(q ? mailPath('all', null, q) : mailPath(mailRoute && mailRoute.box !== 'all' ? mailRoute.box : 'inbox'));
    if (q) search.current?.blur();
  };

  const signOut = async () => {
    if (capabilities.logout) await api.logout().catch(() => undefined);
    saveSession(null);
    navigate('/mail/inbox', { replace: true });
  };

  const registerMove = useCallback((fn: (ids: string[], mailboxId: string) => void) => {
    moveTo.current = fn;
  }, []);

  const activeKey = mailRoute ? (currentBox ? boxKey(currentBox) : mailRoute.box) : null;
  return (
    <div className={`app${navOpen ? ' nav-open' : ''}`}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <button type="button" className="icon-button menu-button" aria-label="Folders" aria-expanded={navOpen} aria-controls="sidebar" onClick={() => setNavOpen((v) => !v)}>
          ☰
        </button>
        <a
          className="brand"
          href="/mail/inbox"
          onClick={(e) => {
            e.preventDefault();
            navigate('/mail/inbox');
          }}
        >
          Nimbus Mail
        </a>
        <form role="search" className="search" onSubmit={submitSearch}>
          <label htmlFor="search-input" className="visually-hidden">
            Search mail
          </label>
          <input id="search-input" ref={search} type="search" placeholder="Search mail (/)" value={query} onChange={(e) => setQuery(e.target.value)} />
        </form>
        <button type="button" className="primary compose-button" onClick={newMessage} title="Compose (c)">
          Compose
        </button>
        <button type="button" className="icon-button" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setHelp(true)}>
          ?
        </button>
        <div className="user-menu">
          <button type="button" className="user-button" aria-haspopup="true" aria-expanded={menuOpen} onClick={() => setMenuOpen((v) => !v)}>
            <span className="avatar" aria-hidden="true">
              {(me.name || me.email).slice(0, 1).toUpperCase()}
            </span>
            <span className="visually-hidden">Account menu for </span>
            <span className="user-name">{me.name}</span>
          </button>
          {menuOpen && (
            <ul className="menu" onClick={() => setMenuOpen(false)}>
              <li>
                <a href="/settings" onClick={(e) => (e.preventDefault(), navigate('/settings'))}>
                  Settings
                </a>
              </li>
              {me.role === 'admin' && (
                <>
                  <li>
                    <a href="/admin/users" onClick={(e) => (e.preventDefault(), navigate('/admin/users'))}>
                      Users
                    </a>
                  </li>
                  <li>
                    <a href="/admin/domains" onClick={(e) => (e.preventDefault(), navigate('/admin/domains'))}>
                      Domains
                    </a>
                  </li>
                </>
              )}
              <li>
                <button type="button" onClick={() => void signOut()}>
                  Sign out
                </button>
              </li>
            </ul>
          )}
        </div>
      </header>
      {conn.down && (
        <div className="banner" role="alert">
          <span>{conn.message || "Can't reach the server."} Retrying in the background.</span>
          <button type="button" onClick={() => void refresh()}>
            Retry now
          </button>
        </div>
      )}
      <nav id="sidebar" className="sidebar" aria-label="Folders">
        {boxes ? (
          <FolderList mailboxes={boxes} activeKey={activeKey} onDropMessages={(ids, to) => moveTo.current(ids, to)} onChanged={() => void refresh()} onNavigate={() => setNavOpen(false)} />
        ) : error ? (
          <p className="muted">Folders could not be loaded.</p>
        ) : (
          <p className="muted" role="status">
            Loading folders…
          </p>
        )}
        {me.role === 'admin' && (
          <ul className="admin-links" aria-label="Administration">
            <li>
              <a href="/admin/users" aria-current={route.page === 'users' ? 'page' : undefined} onClick={(e) => (e.preventDefault(), navigate('/admin/users'), setNavOpen(false))}>
                Users
              </a>
            </li>
            <li>
              <a href="/admin/domains" aria-current={route.page === 'domains' ? 'page' : undefined} onClick={(e) => (e.preventDefault(), navigate('/admin/domains'), setNavOpen(false))}>
                Domains
              </a>
            </li>
          </ul>
        )}
      </nav>
      {navOpen && <div className="scrim" onClick={() => setNavOpen(false)} aria-hidden="true" />}
      <main id="main" className="main" tabIndex={-1}>
        {route.page === 'mail' && boxes ? (
          <MailPage
            route={route}
            me={me}
            capabilities={capabilities}
            mailboxes={boxes}
            adjustCounts={(fn) => setBoxes((b) => (b ? fn(b) : b))}
            refreshMailboxes={() => void refresh()}
            compose={compose}
            openCompose={openCompose}
            closeCompose={() => setCompose(null)}
            registerMove={registerMove}
          />
        ) : route.page === 'mail' ? (
          error && !boxes ? (
            <div className="notice error" role="alert">
              <p>Couldn't load your folders. {error.message}</p>
              <button type="button" onClick={() => void refresh()}>
                Try again
              </button>
            </div>
          ) : (
            <p className="empty" role="status">
              Loading…
            </p>
          )
        ) : route.page === 'users' && me.role === 'admin' ? (
          <UsersPage me={me} capabilities={capabilities} />
        ) : route.page === 'domains' && me.role === 'admin' ? (
          <DomainsPage capabilities={capabilities} />
        ) : route.page === 'settings' ? (
          <SettingsPage me={me} />
        ) : (
          <p className="notice">This page is for administrators.</p>
        )}
      </main>
      {help && <ShortcutHelp onClose={() => setHelp(false)} />}
      <Toasts />
    </div>
  );
}
