import type { DnsTable } from '../adapters/dns/table-resolver';

export interface ToldRecord {
  purpose?: string;
  type: string;
  host: string;
  value: string;
}

/** A long TXT value as DNS serves it: strings of at most 255 characters. */
export function txtChunks(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out;
}

/** What a domain owner who did exactly as told publishes (the mail host's address: `address`). */
export function publishTold(records: ToldRecord[], table: DnsTable = {}, address = '192.0.2.25'): DnsTable {
  for (const r of records) {
    const entry = (table[r.host] ??= {});
    if (r.type === 'MX') entry.MX = [...(entry.MX ?? []), { exchange: r.value, priority: 10 }];
    else if (r.type === 'A') entry.A = [address];
    else if (r.type === 'TXT') entry.TXT = [...(entry.TXT ?? []), txtChunks(r.value)];
    else if (r.type === 'CNAME') entry.CNAME = r.value;
  }
  return table;
}
