import { useState, type FormEvent } from 'react';
import { api, saveSession } from '../api/client';
import { describeError, FieldError } from '../ui/ErrorNotice';

/**
 * First run (the server has no users): the first domain and its administrator. Away from
 * the server's own machine the server asks for the one-time setup code it printed at start.
 */
export function SetupPage({ onDone, codeNeeded }: { onDone(): void; codeNeeded: boolean }) {
  const [askCode, setAskCode] = useState(codeNeeded);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [domain, setDomain] = useState('');
  const [local, setLocal] = useState('admin');
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    if (data.get('password') !== data.get('confirm')) return setError('The passwords do not match.');
    setBusy(true);
    setError(null);
    try {
      const d = domain.trim().toLowerCase();
      const setupCode = String(data.get('setupCode') ?? '').trim() || undefined;
      saveSession(await api.setup({ domain: d, email: `${local.trim().toLowerCase()}@${d}`, password: String(data.get('password')), name: String(data.get('name')).trim(), setupCode }));
      onDone();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'SetupNotAllowed') setAskCode(true);
      setError(
        code === 'AlreadySetUp'
          ? 'This server is already set up. Reload the page and sign in.'
          : code === 'SetupNotAllowed'
            ? 'From this computer the server needs its setup code: the one `npm start` printed (or NIMBUS_SETUP_TOKEN on Azure).'
            : describeError(err),
      );
      setBusy(false);
    }
  };
  return (
    <main className="auth-page">
      <div className="brand">Nimbus Mail</div>
      <form className="auth-form" onSubmit={submit} aria-labelledby="setup-title">
        <h1 id="setup-title">Set up your mail server</h1>
        <p className="muted">Name the domain you receive mail for, and create its first account. That account can add more users later.</p>
        <div className="field">
          <label htmlFor="setup-domain">Your domain</label>
          <input id="setup-domain" name="domain" required placeholder="example.com" value={domain} onChange={(e) => setDomain(e.target.value)} autoFocus />
        </div>
        <div className="field">
          <label htmlFor="setup-local">Your address</label>
          <div className="address-compose">
            <input id="setup-local" name="local" required value={local} onChange={(e) => setLocal(e.target.value)} aria-describedby="setup-at" />
            <span id="setup-at">@{domain.trim().toLowerCase() || 'your domain'}</span>
          </div>
        </div>
        <div className="field">
          <label htmlFor="setup-name">Your name</label>
          <input id="setup-name" name="name" required autoComplete="name" />
        </div>
        <div className="field">
          <label htmlFor="setup-password">Password (at least 8 characters)</label>
          <input id="setup-password" name="password" type="password" minLength={8} required autoComplete="new-password" />
        </div>
        <div className="field">
          <label htmlFor="setup-confirm">Password again</label>
          <input id="setup-confirm" name="confirm" type="password" minLength={8} required autoComplete="new-password" />
        </div>
        {askCode && (
          <div className="field">
            <label htmlFor="setup-code">Setup code</label>
            <input id="setup-code" name="setupCode" required autoComplete="off" aria-describedby="setup-code-help" />
            <p id="setup-code-help" className="muted">
              Printed by the server when it started (<code>npm start</code>), or NIMBUS_SETUP_TOKEN on Azure. Not needed in a browser on the server itself.
            </p>
          </div>
        )}
        <FieldError error={error} />
        <button type="submit" className="primary wide" disabled={busy}>
          {busy ? 'Setting up…' : 'Create and sign in'}
        </button>
      </form>
    </main>
  );
}
