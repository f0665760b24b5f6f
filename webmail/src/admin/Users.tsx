import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, type ApiError, type Capabilities } from '../api/client';
import type { User } from '../api/types';
import { ConfirmDialog, Dialog } from '../ui/Dialog';
import { describeError, ErrorNotice, FieldError } from '../ui/ErrorNotice';
import { toast } from '../ui/toasts';

/** Admin: users, their aliases, new users, password resets, removal. */
export function UsersPage({ me, capabilities }: { me: User; capabilities: Capabilities }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [removing, setRemoving] = useState<User | null>(null);
  const [resetting, setResetting] = useState<User | null>(null);

  const load = useCallback(() => {
    setError(null);
    api.users().then(setUsers, setError);
  }, []);
  useEffect(load, [load]);

  return (
    <section className="page" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <NewUserForm onCreated={(u) => setUsers((all) => [...(all ?? []), u].sort((a, b) => a.email.localeCompare(b.email)))} />
      {error && <ErrorNotice error={error} what="load the users" onRetry={load} />}
      {!users && !error && <p role="status">Loading users…</p>}
      {users && (
        <table className="data-table users-table">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Aliases</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} data-testid="user-row">
                <td>
                  <strong>{u.name}</strong>
                  <br />
                  <span className="muted">{u.email}</span>
                </td>
                <td>{u.role}</td>
                <td>
                  <Aliases user={u} onChange={(aliases) => setUsers((all) => all!.map((x) => (x.id === u.id ? { ...x, aliases } : x)))} />
                </td>
                <td className="actions">
                  {capabilities.passwordReset && (
                    <button type="button" onClick={() => setResetting(u)}>
                      Reset password
                    </button>
                  )}
                  {u.id !== me.id && (
                    <button type="button" className="danger" onClick={() => setRemoving(u)}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!capabilities.passwordReset && <p className="muted">Password reset by an administrator needs a newer server (the route is not installed here); users can change their own password under Settings.</p>}
      {removing && (
        <ConfirmDelete
          user={removing}
          onClose={() => setRemoving(null)}
          onDeleted={() => {
            setUsers((all) => all!.filter((x) => x.id !== removing.id));
            toast(`${removing.email} was deleted.`);
            setRemoving(null);
          }}
        />
      )}
      {resetting && <ResetPassword user={resetting} onClose={() => setResetting(null)} />}
    </section>
  );
}

function NewUserForm({ onCreated }: { onCreated(u: User): void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    setBusy(true);
    setError(null);
    try {
      const user = await api.createUser({ email: String(data.get('email')), name: String(data.get('name')), password: String(data.get('password')), role: data.get('role') === 'admin' ? 'admin' : 'user' });
      onCreated(user);
      form.reset();
      toast(`${user.email} can now sign in.`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-labelledby="new-user-title">
      <h3 id="new-user-title">New user</h3>
      <div className="field">
        <label htmlFor="nu-name">Name</label>
        <input id="nu-name" name="name" required maxLength={200} />
      </div>
      <div className="field">
        <label htmlFor="nu-email">Email address</label>
        <input id="nu-email" name="email" type="email" required />
      </div>
      <div className="field">
        <label htmlFor="nu-password">Password</label>
        <input id="nu-password" name="password" type="password" required minLength={8} autoComplete="new-password" />
      </div>
      <div className="field">
        <label htmlFor="nu-role">Role</label>
        <select id="nu-role" name="role" defaultValue="user">
          <option value="user">User</option>
          <option value="admin">Administrator</option>
        </select>
      </div>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create user'}
      </button>
      <FieldError error={error} />
    </form>
  );
}

function Aliases({ user, onChange }: { user: User; onChange(aliases: string[]): void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      onChange((await api.addAlias(user.id, text.trim())).aliases);
      setText('');
    } catch (err) {
      setError(describeError(err));
    }
  };
  const remove = async (address: string) => {
    try {
      await api.removeAlias(user.id, address);
      onChange(user.aliases.filter((a) => a !== address));
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <div className="aliases">
      <ul>
        {user.aliases.map((a) => (
          <li key={a}>
            {a}{' '}
            <button type="button" className="link-button" aria-label={`Remove alias ${a}`} onClick={() => void remove(a)}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form onSubmit={add} className="alias-form">
        <input aria-label={`New alias for ${user.email}`} placeholder="alias@domain" type="email" value={text} onChange={(e) => setText(e.target.value)} required />
        <button type="submit">Add alias</button>
      </form>
      <FieldError error={error} />
    </div>
  );
}

function ConfirmDelete({ user, onClose, onDeleted }: { user: User; onClose(): void; onDeleted(): void }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <ConfirmDialog title={`Delete ${user.email}?`} action="Delete user" onConfirm={() => api.deleteUser(user.id).then(onDeleted, (err) => setError(describeError(err)))} onClose={onClose} error={error}>
      <p>Their folders, messages and aliases are removed for good.</p>
    </ConfirmDialog>
  );
}

function ResetPassword({ user, onClose }: { user: User; onClose(): void }) {
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    try {
      await api.resetPassword(user.id, String(new FormData(e.currentTarget).get('password')));
      toast(`The password of ${user.email} was changed; their sessions were signed out.`);
      onClose();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <Dialog title={`New password for ${user.email}`} onClose={onClose}>
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor="reset-password">New password</label>
          <input id="reset-password" name="password" type="password" minLength={8} required autoComplete="new-password" autoFocus />
        </div>
        <FieldError error={error} />
        <div className="form-actions">
          <button type="submit" className="primary">
            Set password
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
