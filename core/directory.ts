import { domainOf, normalizeAddress } from './address';
import { MailError } from './errors';
import type { Directory } from './ports';
import type { Domain } from './types';

/** What the edge does with one RCPT TO. */
export type RecipientDecision = { kind: 'local'; userId: string } | { kind: 'relay' };

/**
 * The RCPT policy: hosted address → accept; unknown address on a hosted domain →
 * 550 5.1.1; any other domain → relay, only for an authenticated sender, else 554 5.7.1.
 * Lookup failures are left to throw: the edge turns them into 451 (never 5xx).
 */
export async function decideRecipient(store: Directory, address: string, authenticated: boolean): Promise<RecipientDecision> {
  const normalized = normalizeAddress(address);
  const domain = domainOf(normalized);
  if (!domain) throw new MailError('BadRecipientAddress');
  const hit = await store.resolveAddress(normalized);
  if (hit) return { kind: 'local', userId: hit.userId };
  const hosted = await store.getDomain(domain);
  if (hosted) throw new MailError('MailboxUnknown', `No such user here: ${normalized}`);
  if (authenticated) return { kind: 'relay' };
  throw new MailError('RelayDenied', `Relay access denied for ${domain}`);
}

/**
 * The directory with a short memory, for an edge that reads it over the network
 * (Cosmos DB): each address and domain is looked up at most once per `ttlMs`.
 * Failed lookups are not remembered, so a fault is retried by the next RCPT.
 * A new user or alias is seen within `ttlMs`; so is a removed one.
 */
export class CachedDirectory implements Directory {
  private readonly addresses = new Map<string, { until: number; value: Promise<{ userId: string } | null> }>();
  private readonly domains = new Map<string, { until: number; value: Promise<Domain | null> }>();

  constructor(
    private readonly inner: Directory,
    private readonly ttlMs: number,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  resolveAddress(address: string): Promise<{ userId: string } | null> {
    return this.cached(this.addresses, normalizeAddress(address), (key) => this.inner.resolveAddress(key));
  }

  getDomain(name: string): Promise<Domain | null> {
    return this.cached(this.domains, name.toLowerCase(), (key) => this.inner.getDomain(key));
  }

  private cached<V>(map: Map<string, { until: number; value: Promise<V> }>, key: string, load: (key: string) => Promise<V>): Promise<V> {
    const now = this.now();
    const hit = map.get(key);
    if (hit && hit.until > now) return hit.value;
    if (map.size >= this.maxEntries) map.clear();
    const value = load(key);
    map.set(key, { until: now + this.ttlMs, value });
    value.catch(() => {
      if (map.get(key)?.value === value) map.delete(key);
    });
    return value;
  }
}
