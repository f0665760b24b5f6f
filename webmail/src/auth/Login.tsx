import { useState, type FormEvent } from 'react';
import { api, saveSession, session } from '../api/client';
import type { Session } from '../api/types';
import { describeError, FieldError } from '../ui/ErrorNotice';

/**
 * Sign-in. As a page when nobody is signed in; as a dialog over the app when the
 * session ran out mid-work, so the screen and any unsent draft stay as they were.
 */
export function LoginForm({ email: presetEmail, onDone, heading }: { email?: string; onDone?(s: Session): void; heading: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const s = await api.login({ email: String(data.get('email')).trim(), password: String(data.get('password')) });
      const before = session.get();
      saveSession(s);
      if (before && before.user.id !== s.user.id) window.location.assign('/mail/inbox'); // someone else: start clean
      onDone?.(s);
    } catch (err) {
      setError((err as { code?: string }).code === 'InvalidCredentials' ? 'Wrong email or password.' : describeError(err));
      setBusy(false);
    }
  };
  return (
    <form className="auth-form" onSubmit={submit} aria-labelledby="auth-title">
      <h1 id="auth-title">{heading}</h1>
      <div className="field">
        <label htmlFor="login-email">Email address</label>
        <input id="login-email" name="email" type="email" autoComplete="username" required defaultValue={presetEmail} autoFocus={!presetEmail} />
      </div>
      <div className="field">
        <label htmlFor="login-password">Password</label>
        <input id="login-password" name="password" type="password" autoComplete="current-password" required autoFocus={Boolean(presetEmail)} />
      </div>
      <FieldError error={error} />
      <button type="submit" className="primary wide" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

export function LoginPage() {
  return (
    <main className="auth-page">
      <div className="brand">Nimbus Mail</div>
      <LoginForm heading="Sign in" />
    </main>
  );
}

/** The session ran out: sign in again on top of the app (which keeps its state underneath). */
export function SessionExpiredDialog({ email }: { email: string }) {
  return (
    <div className="overlay" role="dialog" aria-modal="true" aria-labelledby="auth-title">
      <div className="auth-card">
        <p className="notice">Your session has ended. Sign in again to carry on; nothing you were writing is lost.</p>
        <LoginForm heading="Sign in again" email={email} />
      </div>
    </div>
  );
}
