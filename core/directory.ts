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
 * (Cosmos DB): a known address or a domain is looked up at most once per `ttlMs`.
 * An unknown address is not remembered (a new user must not get 550 for a while;
 * asking again is one point read), nor is a failed lookup (the next RCPT retries).
 * A removed user or alias is still accepted for up to `ttlMs`; the filing step then
 * finds no recipient and logs it.
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
    return this.cached(this.addresses, normalizeAddress(address), (key) => this.inner.resolveAddress(key), { keepNull: false });
  }

  getDomain(name: string): Promise<Domain | null> {
    return this.cached(this.domains, name.toLowerCase(), (key) => this.inner.getDomain(key), { keepNull: true });
  }

  private cached<V>(map: Map<string, { until: number; value: Promise<V> }>, key: string, load: (key: string) => Promise<V>, opts: { keepNull: boolean }): Promise<V> {
    const now = this.now();
    const hit = map.get(key);
    if (hit && hit.until > now) return hit.value;
    if (map.size >= this.maxEntries) map.clear();
    const value = load(key);
    map.set(key, { until: now + this.ttlMs, value });
    const forget = () => {
      if (map.get(key)?.value === value) map.delete(key);
    };
    value.then((v) => {
      if (v === null && !opts.keepNull) forget();
    }, forget);
    return value;
  }
}
