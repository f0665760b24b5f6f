import { describe, expect, it } from 'vitest';
import type { DnsResolver } from '../../core/ports';
import type { DnsTable } from '../dns/table-resolver';

/** The table every DnsResolver adapter is asked about. */
export const CONTRACT_TABLE: DnsTable = {
  'example.test': {
    MX: [{ exchange: 'mx.example.test', priority: 10 }],
    TXT: ['v=spf1 mx -all', ['v=DKIM1; k=rsa; ', 'p=abc', 'def']],
    A: ['192.0.2.10'],
  },
  'mx.example.test': { A: ['192.0.2.25'], AAAA: ['2001:db8::25'] },
  'alias.example.test': { CNAME: 'hop.example.test' },
  'hop.example.test': { CNAME: 'mx.example.test' },
  'sel._domainkey.example.test': { CNAME: 'key.provider.test' },
  'key.provider.test': { TXT: [['v=DKIM1; p=', 'KEY']] },
  'servfail.example.test': { error: 'ESERVFAIL' },
  'slow.example.test': { error: 'ETIMEOUT' },
  '25.2.0.192.in-addr.arpa': { PTR: ['mx.example.test'] },
};

/**
 * The DnsResolver contract: every adapter answers the same questions the same way,
 * errors included (the table resolver directly; node:dns through a loopback DNS
 * server serving the same table). `make` gives a resolver over CONTRACT_TABLE whose
 * timeout is short.
 */
export function dnsResolverContract(name: string, make: () => Promise<{ resolver: DnsResolver; cleanup(): Promise<void> }>): void {
  describe(`DnsResolver contract: ${name}`, () => {
    const withResolver = (fn: (r: DnsResolver) => Promise<void>) => async () => {
      const { resolver, cleanup } = await make();
      try {
        await fn(resolver);
      } finally {
        await cleanup();
      }
    };

    it(
      'answers MX, A, AAAA, PTR and TXT (a TXT record as its several strings); names without case or trailing dot',
      withResolver(async (r) => {
        expect(await r.resolveMx('EXAMPLE.test.')).toEqual([{ exchange: 'mx.example.test', priority: 10 }]);
        expect(await r.resolve4('mx.example.test')).toEqual(['192.0.2.25']);
        expect(await r.resolve6('mx.example.test')).toEqual(['2001:db8::25']);
        expect(await r.resolvePtr('25.2.0.192.in-addr.arpa')).toEqual(['mx.example.test']);
        const txt = await r.resolveTxt('example.test');
        expect(txt).toHaveLength(2);
        expect(txt).toContainEqual(['v=spf1 mx -all']);
        expect(txt).toContainEqual(['v=DKIM1; k=rsa; ', 'p=abc', 'def']);
      }),
    );

    it(
      'follows CNAME chains for other types; resolveCname gives the first hop',
      withResolver(async (r) => {
        expect(await r.resolve4('alias.example.test')).toEqual(['192.0.2.25']);
        expect(await r.resolveCname('alias.example.test')).toEqual(['hop.example.test']);
        expect(await r.resolveTxt('sel._domainkey.example.test')).toEqual([['v=DKIM1; p=', 'KEY']]);
      }),
    );

    it(
      'NXDOMAIN is ENOTFOUND, a name without that type ENODATA, SERVFAIL ESERVFAIL, no answer ETIMEOUT',
      withResolver(async (r) => {
        await expect(r.resolveTxt('nowhere.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
        await expect(r.resolveMx('mx.example.test')).rejects.toMatchObject({ code: 'ENODATA' });
        await expect(r.resolveTxt('servfail.example.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
        await expect(r.resolve4('slow.example.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
      }),
    );
  });
}
