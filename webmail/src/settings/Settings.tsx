import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { User } from '../api/types';
import { describeError, FieldError } from '../ui/ErrorNotice';
import { SHORTCUTS } from '../ui/ShortcutHelp';

export function SettingsPage({ me }: { me: User }) {
  const [state, setState] = useState<{ kind: 'idle' | 'busy' | 'done' } | { kind: 'error'; message: string }>({ kind: 'idle' });
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    if (data.get('newPassword') !== data.get('confirm')) return setState({ kind: 'error', message: 'The new passwords do not match.' });
    setState({ kind: 'busy' });
    try {
      await api.changePassword({ currentPassword: String(data.get('currentPassword')), newPassword: String(data.get('newPassword')) });
      form.reset();
      setState({ kind: 'done' });
    } catch (err) {
      setState({ kind: 'error', message: describeError(err) });
    }
  };
  return (
    <section className="page" aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      <p>
        Signed in as <strong>{me.name}</strong> ({me.email}){me.aliases.length > 0 && <>; also receives mail for {me.aliases.join(', ')}</>}.
      </p>
      <form className="card" onSubmit={submit} aria-labelledby="pw-title">
        <h3 id="pw-title">Change password</h3>
        <div className="field">
          <label htmlFor="pw-current">Current password</label>
          <input id="pw-current" name="currentPassword" type="password" required autoComplete="current-password" />
        </div>
        <div className="field">
          <label htmlFor="pw-new">New password</label>
          <input id="pw-new" name="newPassword" type="password" minLength={8} required autoComplete="new-password" />
        </div>
        <div className="field">
          <label htmlFor="pw-confirm">New password again</label>
          <input id="pw-confirm" name="confirm" type="password" minLength={8} required autoComplete="new-password" />
        </div>
        <button type="submit" className="primary" disabled={state.kind === 'busy'}>
          Change password
        </button>
        {state.kind === 'done' && <p role="status">Your password was changed.</p>}
        <FieldError error={state.kind === 'error' ? state.message : null} />
      </form>
      <section className="card" aria-labelledby="keys-title">
        <h3 id="keys-title">Keyboard shortcuts</h3>
        <ul className="plain-list">
          {SHORTCUTS.map(([k, what]) => (
            <li key={k}>
              <kbd>{k}</kbd> {what}
            </li>
          ))}
        </ul>
      </section>
    </section>
  );
}
