import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, type ApiError, type Capabilities } from '../api/client';
import type { DomainRecord, DomainView } from '../api/types';
import { fullDate } from '../mail/format';
import { ConfirmDialog } from '../ui/Dialog';
import { describeError, ErrorNotice, FieldError } from '../ui/ErrorNotice';
import { toast } from '../ui/toasts';

const when = (v: string | null) => (v ? fullDate(v) : '—');

/** Admin: hosted domains, the DNS records to publish (with copy buttons), each record's live status, "check now". */
export function DomainsPage({ capabilities }: { capabilities: Capabilities }) {
  const [domains, setDomains] = useState<DomainView[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const load = useCallback(() => {
    setError(null);
    api.domains().then(setDomains, setError);
  }, []);
  useEffect(() => {
    if (capabilities.domains) load();
  }, [capabilities.domains, load]);

  if (!capabilities.domains) {
    return (
      <section className="page" aria-labelledby="domains-title">
        <h2 id="domains-title">Domains</h2>
        <p className="notice" role="note">
          Domain management is not available on this server yet (its API is not installed). The domain created at setup receives mail; its DNS records cannot be checked from here.
        </p>
      </section>
    );
  }
  const replace = (d: DomainView) => setDomains((all) => (all ?? []).map((x) => (x.name === d.name ? d : x)));
  return (
    <section className="page" aria-labelledby="domains-title">
      <h2 id="domains-title">Domains</h2>
      <NewDomainForm onCreated={(d) => setDomains((all) => [...(all ?? []), d])} />
      {error && <ErrorNotice error={error} what="load the domains" onRetry={load} />}
      {!domains && !error && <p role="status">Loading domains…</p>}
      {domains?.map((d) => <DomainCard key={d.name} domain={d} onChange={replace} onRemoved={() => setDomains((all) => all!.filter((x) => x.name !== d.name))} />)}
    </section>
  );
}

function NewDomainForm({ onCreated }: { onCreated(d: DomainView): void }) {
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    setError(null);
    try {
      onCreated(await api.createDomain(String(new FormData(form).get('name')).trim()));
      form.reset();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <div className="field">
        <label htmlFor="new-domain">Add a domain</label>
        <input id="new-domain" name="name" placeholder="example.org" required />
      </div>
      <button type="submit" className="primary">
        Add domain
      </button>
      <FieldError error={error} />
    </form>
  );
}

function DomainCard({ domain, onChange, onRemoved }: { domain: DomainView; onChange(d: DomainView): void; onRemoved(): void }) {
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const check = async () => {
    setChecking(true);
    setError(null);
    try {
      onChange(await api.verifyDomain(domain.name));
    } catch (err) {
      setError(describeError(err));
    } finally {
      setChecking(false);
    }
  };
  const [confirming, setConfirming] = useState(false);
  const remove = async () => {
    try {
      await api.deleteDomain(domain.name);
      onRemoved();
    } catch (err) {
      setConfirming(false);
      setError(describeError(err));
    }
  };
  return (
    <article className="card domain" aria-labelledby={`domain-${domain.name}`} data-testid="domain-card">
      <header className="domain-head">
        <h3 id={`domain-${domain.name}`}>{domain.unicodeName || domain.name}</h3>
        <span className={`badge ${domain.status === 'verified' ? 'pass' : domain.status === 'failed' ? 'fail' : 'other'}`}>{domain.status}</span>
        <span className="muted">
          Last checked {when(domain.lastCheckedAt)} · next {when(domain.nextCheckAt)}
        </span>
        <button type="button" onClick={() => void check()} disabled={checking}>
          {checking ? 'Checking…' : 'Check now'}
        </button>
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Remove
        </button>
      </header>
      {confirming && (
        <ConfirmDialog title={`Remove ${domain.unicodeName || domain.name}?`} action="Remove domain" onConfirm={() => void remove()} onClose={() => setConfirming(false)}>
          <p>Mail to this domain is refused from then on. A domain that still has users or aliases cannot be removed.</p>
        </ConfirmDialog>
      )}
      {domain.reason && <p className="notice error">{domain.reason}</p>}
      <FieldError error={error} />
      <table className="data-table records">
        <caption>DNS records to publish</caption>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Host</th>
            <th scope="col">Value</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {domain.records.map((r, i) => (
            <RecordRow key={`${r.type}-${r.host}-${i}`} record={r} />
          ))}
        </tbody>
      </table>
    </article>
  );
}

function RecordRow({ record }: { record: DomainRecord }) {
  const found = record.found?.split('\n').join(' | ') ?? null;
  return (
    <tr data-testid="record-row">
      <td>
        {record.type}
        <br />
        <span className="muted">{record.purpose}</span>
      </td>
      <td>
        <code>{record.host}</code> <CopyButton text={record.host} label={`Copy host of the ${record.purpose} record`} />
      </td>
      <td className="record-value">
        <code>{record.value}</code> <CopyButton text={record.value} label={`Copy value of the ${record.purpose} record`} />
      </td>
      <td>
        <span className={`badge ${record.status === 'ok' ? 'pass' : record.status === 'pending' ? 'other' : 'fail'}`}>{record.status}</span>
        <p className="muted explanation">{record.explanation}</p>
        {found && record.status !== 'ok' && <p className="muted">Found: {found}</p>}
      </td>
    </tr>
  );
}

function CopyButton({ text, label }: { text: string; label: string }) {
  return (
    <button
      type="button"
      className="small"
      aria-label={label}
      onClick={() =>
        navigator.clipboard.writeText(text).then(
          () => toast('Copied.'),
          () => toast('Copy failed: select the text and copy it by hand.', { kind: 'error' }),
        )
      }
    >
      Copy
    </button>
  );
}
