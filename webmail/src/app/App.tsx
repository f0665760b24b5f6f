import { useCallback, useEffect, useRef, useState } from 'react';
import { api, loadCapabilities, saveSession, session, sessionExpired, setShownUser, type ApiError, type Capabilities } from '../api/client';
import type { Mailbox, User } from '../api/types';
import { LoginPage, SessionExpiredDialog } from '../auth/Login';
import { SetupPage } from '../auth/Setup';
import { useStore } from '../store';
import { describeError } from '../ui/ErrorNotice';
import { navigate, parseRoute, useLocation } from './router';
import { Shell } from './Shell';

type Boot = { kind: 'loading' } | { kind: 'error'; error: ApiError } | { kind: 'login'; caps: Capabilities } | { kind: 'setup'; caps: Capabilities; codeNeeded: boolean } | { kind: 'ready'; caps: Capabilities; me: User; boxes: Mailbox[] | null };

/**
 * Start-up: what the server offers, then who is signed in. The server down or slow
 * gives a message and a retry, never a blank page; a session that ends mid-work
 * asks for the password over the app, which keeps its state.
 */
export function App() {
  const current = useStore(session);
  const expired = useStore(sessionExpired);
  const location = useLocation();
  const route = parseRoute(location);
  const [boot, setBoot] = useState<Boot>({ kind: 'loading' });
  const bootRef = useRef(boot);
  bootRef.current = boot;

  const start = useCallback(async () => {
    setBoot({ kind: 'loading' });
    try {
      if (session.get()) {
        // one round trip: what the server offers, who I am, my folders (with whichever session is stored)
        const [caps, me, boxes] = await Promise.allSettled([loadCapabilities(), api.me({ anyUser: true }), api.mailboxes({ anyUser: true })]);
        try {
          if (caps.status === 'rejected') throw caps.reason;
          if (me.status === 'rejected') throw me.reason;
          // the session changed while these were on their way (another tab): start again for the one stored now
          if (session.get()?.user.id !== me.value.id) return void start();
          setShownUser(me.value.id);
          setBoot({ kind: 'ready', caps: caps.value, me: me.value, boxes: boxes.status === 'fulfilled' ? boxes.value : null });
          return;
        } catch (err) {
          if ((err as ApiError).status !== 401) throw err;
          saveSession(null); // an old token: sign in again
        }
      }
      const [caps, status] = await Promise.all([loadCapabilities(), api.setupStatus()]);
      setBoot(status.needed ? { kind: 'setup', caps, codeNeeded: status.codeNeeded } : { kind: 'login', caps });
    } catch (err) {
      setBoot({ kind: 'error', error: err as ApiError });
    }
  }, []);

  useEffect(() => {
    void start();
  }, [start]);

  // signed in, signed out, or someone else signed in (here or in another tab)
  useEffect(() => {
    const b = bootRef.current;
    if (b.kind === 'loading' || b.kind === 'error') return;
    if (!current) {
      if (b.kind === 'ready') setBoot({ kind: 'login', caps: b.caps });
      return;
    }
    if (b.kind === 'ready' && b.me.id === current.user.id) return;
    void start();
  }, [current, start]);

  // /login and /setup are only addresses to arrive at
  useEffect(() => {
    if (boot.kind === 'ready' && (route.page === 'login' || route.page === 'setup')) navigate('/mail/inbox', { replace: true });
  }, [boot.kind, route.page]);

  if (boot.kind === 'loading') {
    return (
      <main className="splash" aria-busy="true">
        <div className="brand">Nimbus Mail</div>
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (boot.kind === 'error') {
    return (
      <main className="splash">
        <div className="brand">Nimbus Mail</div>
        <div className="notice error" role="alert">
          <p>Nimbus Mail is not available right now. {describeError(boot.error)}</p>
          <button type="button" className="primary" onClick={() => void start()} autoFocus>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (boot.kind === 'setup') return <SetupPage codeNeeded={boot.codeNeeded} onDone={() => navigate('/mail/inbox', { replace: true })} />;
  if (boot.kind !== 'ready' || !current) return <LoginPage />;
  const { me, caps, boxes } = boot;
  return (
    <>
      <div className="app-root" inert={expired}>
        <Shell me={me} capabilities={caps} route={route} initialMailboxes={boxes} />
      </div>
      {expired && <SessionExpiredDialog email={current.user.email} />}
    </>
  );
}
