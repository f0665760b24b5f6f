import { DnsError, normalizeName, type DnsErrorCode } from '../../core/dns';
import type { DnsResolver, MxRecord } from '../../core/ports';

export type TableType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'CNAME' | 'PTR';

/** What one name holds. A TXT record may be one string or its character-strings (as a long record is published). */
export interface DnsTableEntry {
  A?: string[];
  AAAA?: string[];
  MX?: MxRecord[];
  TXT?: Array<string | string[]>;
  CNAME?: string;
  PTR?: string[];
  /** A failure for every question about this name (ETIMEOUT, ESERVFAIL, EREFUSED) or per type. */
  error?: DnsErrorCode | Partial<Record<TableType, DnsErrorCode>>;
}

export type DnsTable = Record<string, DnsTableEntry>;

/**
 * A DnsResolver over a table, for tests: names not in the table do not exist
 * (ENOTFOUND), a name without the asked type has no data (ENODATA), CNAMEs are
 * followed for other types as a recursive resolver does, and names compare without
 * case or trailing dot. The loopback DNS server (loopback-dns-server.ts) serves the
 * same tables over UDP, so both adapters run one contract suite.
 */
export class TableResolver implements DnsResolver {
  private table = new Map<string, DnsTableEntry>();
  /** Every question asked, as "TYPE name" (tests count lookups). */
  readonly queries: string[] = [];

  /** Each answer waits this long (tests of slow DNS and of overlapping checks). */
  delayMs: number;

  constructor(table: DnsTable = {}, opts: { delayMs?: number } = {}) {
    this.replace(table);
    this.delayMs = opts.delayMs ?? 0;
  }

  /** Replaces the whole table (DNS changed). */
  replace(table: DnsTable): void {
    this.table = new Map(Object.entries(table).map(([name, entry]) => [normalizeName(name), entry]));
  }

  /** Sets or (with null) removes one name. */
  set(name: string, entry: DnsTableEntry | null): void {
    if (entry) this.table.set(normalizeName(name), entry);
    else this.table.delete(normalizeName(name));
  }

  /**
   * The answer to one question, following CNAMEs: the records (or the CNAME chain's
   * target records) or a DnsError. Shared with the loopback DNS server.
   */
  answer(name: string, type: TableType): { chain: Array<{ name: string; target: string }>; name: string; records: unknown[] } | DnsError {
    const chain: Array<{ name: string; target: string }> = [];
    let current = normalizeName(name);
    for (let hop = 0; hop < 8; hop++) {
      const entry = this.table.get(current);
      if (!entry) return new DnsError('ENOTFOUND', name, type);
      const error = typeof entry.error === 'string' ? entry.error : entry.error?.[type];
      if (error) return new DnsError(error, name, type);
      const records = recordsOf(entry, type);
      if (records.length) return { chain, name: current, records };
      if (type === 'CNAME' || !entry.CNAME) return new DnsError('ENODATA', name, type);
      const target = normalizeName(entry.CNAME);
      chain.push({ name: current, target });
      current = target;
    }
    return new DnsError('ESERVFAIL', name, type); // a CNAME loop
  }

  private async ask<T>(name: string, type: TableType): Promise<T[]> {
    this.queries.push(`${type} ${normalizeName(name)}`);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const result = this.answer(name, type);
    if (result instanceof DnsError) throw result;
    return result.records as T[];
  }

  resolveMx(name: string) {
    return this.ask<MxRecord>(name, 'MX');
  }
  resolveTxt(name: string) {
    return this.ask<string[]>(name, 'TXT');
  }
  resolveCname(name: string) {
    return this.ask<string>(name, 'CNAME');
  }
  resolve4(name: string) {
    return this.ask<string>(name, 'A');
  }
  resolve6(name: string) {
    return this.ask<string>(name, 'AAAA');
  }
  resolvePtr(name: string) {
    return this.ask<string>(name, 'PTR');
  }
}

/** Host names in answers come without the trailing dot, as node:dns gives them (case kept). */
const bare = (name: string) => name.replace(/\.+$/, '');

function recordsOf(entry: DnsTableEntry, type: TableType): unknown[] {
  switch (type) {
    case 'TXT':
      return (entry.TXT ?? []).map((r) => (typeof r === 'string' ? [r] : r));
    case 'CNAME':
      return entry.CNAME ? [bare(entry.CNAME)] : [];
    case 'MX':
      return (entry.MX ?? []).map((r) => ({ exchange: bare(r.exchange), priority: r.priority }));
    case 'PTR':
      return (entry.PTR ?? []).map(bare);
    default:
      return entry[type] ?? [];
  }
}
