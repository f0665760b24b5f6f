import { parseDomainName, unicodeName } from '../../core/domain-name';
import { MailError } from '../../core/errors';
import type { Domain, RecordCheck } from '../../core/types';
import type { AppContext } from '../app-context';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * A domain as the API shows it (AGREEMENTS' shape): the records to publish now, each
 * with the last check's status, the value found and a sentence; never the private
 * key. A record the last check did not cover (new, or changed by the settings since)
 * is `pending`.
 */
export function toDomainView(app: AppContext, domain: Domain) {
  const records = app.domains.expected(domain).map((spec): RecordCheck => {
    const last = domain.records.find((r) => r.purpose === spec.purpose && r.type === spec.type && r.host === spec.host && r.value === spec.value);
    return last ? { ...spec, status: last.status, found: last.found, explanation: last.explanation } : { ...spec, status: 'pending', found: null, explanation: 'not checked yet' };
  });
  return {
    name: domain.name,
    unicodeName: unicodeName(domain.name),
    status: domain.status,
    reason: domain.reason,
    createdAt: iso(domain.createdAt),
    lastCheckedAt: iso(domain.lastCheckedAt),
    nextCheckAt: iso(domain.nextCheckAt),
    attempts: domain.attempts,
    dkimSelector: domain.dkim?.selector ?? null,
    records: records.map(({ type, host, value, purpose, status, found, explanation }) => ({ type, host, value, purpose, status, found, explanation })),
  };
}

/** The hosted domain named in the path (U- or A-labels), or 404. */
export async function domainFromPath(app: AppContext, raw: string | undefined): Promise<Domain> {
  let name: string;
  try {
    name = parseDomainName(raw ?? '').ascii;
  } catch {
    throw new MailError('NotFound', 'Domain not found');
  }
  const domain = await app.store.getDomain(name);
  if (!domain) throw new MailError('NotFound', 'Domain not found');
  return domain;
}
