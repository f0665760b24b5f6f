import type { DNSResolver } from './mailauth';
import type { DnsResolver } from './ports';

/** node:dns's error codes, which mailauth understands too (ENOTFOUND/ENODATA: no such record; the rest: try again later). */
export type DnsErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ETIMEOUT' | 'ESERVFAIL' | 'EREFUSED' | 'ECONNREFUSED' | 'EBADRESP' | 'ECANCELLED' | 'EUNKNOWN';

const KNOWN = new Set<string>(['ENOTFOUND', 'ENODATA', 'ETIMEOUT', 'ESERVFAIL', 'EREFUSED', 'ECONNREFUSED', 'EBADRESP', 'ECANCELLED']);

/** A failed lookup. `code` follows node:dns, so libraries written against node:dns (mailauth) read it as they would node's. */
export class DnsError extends Error {
  constructor(
    readonly code: DnsErrorCode,
    readonly hostname: string,
    readonly rrtype: string,
  ) {
    super(`${rrtype} ${hostname}: ${code}`);
    this.name = 'DnsError';
  }

  /** Any error from a resolver as a DnsError (unknown codes become EUNKNOWN: transient). */
  static from(err: unknown, hostname: string, rrtype: string): DnsError {
    if (err instanceof DnsError) return err;
    const code = (err as { code?: unknown })?.code;
    return new DnsError(typeof code === 'string' && KNOWN.has(code) ? (code as DnsErrorCode) : 'EUNKNOWN', hostname, rrtype);
  }
}

/** The name (or the record) does not exist: a definite answer, not trouble. */
export function isNoRecord(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'ENOTFOUND' || code === 'ENODATA';
}

/** A lower-case name without the trailing dot, for comparing names found in DNS answers. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, '');
}

/**
 * The resolver as mailauth calls it (`dns.promises.resolve(name, rrtype)`'s shape),
 * backed by the DnsResolver port, so the edge's SPF/DKIM/DMARC/ARC lookups go
 * through the configured servers and timeout (and a table in tests).
 */
export function mailauthResolver(resolver: DnsResolver): DNSResolver {
  return async (name, rrtype): Promise<any> => {
    switch (rrtype.toUpperCase()) {
      case 'TXT':
        return resolver.resolveTxt(name);
      case 'MX':
        return resolver.resolveMx(name);
      case 'A':
        return resolver.resolve4(name);
      case 'AAAA':
        return resolver.resolve6(name);
      case 'CNAME':
        return resolver.resolveCname(name);
      case 'PTR':
        return resolver.resolvePtr(name);
      default:
        throw new DnsError('ENODATA', name, rrtype);
    }
  };
}

/**
 * A short memory in front of a resolver, for the SMTP edge: many messages from one
 * sender domain ask the same SPF/DMARC/DKIM questions within seconds. Answers and
 * "no such record" are kept for `ttlMs`; timeouts and server failures are not (the
 * next message asks again). The domain checks use the resolver without it, so an
 * owner who has just fixed a record sees the fix at once.
 */
export class CachingResolver implements DnsResolver {
  private readonly entries = new Map<string, { until: number; value: Promise<unknown> }>();

  constructor(
    private readonly inner: DnsResolver,
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  resolveMx(name: string) {
    return this.cached('MX', name, () => this.inner.resolveMx(name));
  }
  resolveTxt(name: string) {
    return this.cached('TXT', name, () => this.inner.resolveTxt(name));
  }
  resolveCname(name: string) {
    return this.cached('CNAME', name, () => this.inner.resolveCname(name));
  }
  resolve4(name: string) {
    return this.cached('A', name, () => this.inner.resolve4(name));
  }
  resolve6(name: string) {
    return this.cached('AAAA', name, () => this.inner.resolve6(name));
  }
  resolvePtr(name: string) {
    return this.cached('PTR', name, () => this.inner.resolvePtr(name));
  }

  private cached<T>(type: string, name: string, load: () => Promise<T>): Promise<T> {
    const key = `${type} ${normalizeName(name)}`;
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value as Promise<T>;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    const value = load();
    this.entries.set(key, { until: now + this.ttlMs, value });
    value.catch((err) => {
      if (!isNoRecord(err) && this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }
}
