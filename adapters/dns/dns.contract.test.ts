import { describe, expect, it } from 'vitest';
import { CachingResolver } from '../../core/dns';
import { CONTRACT_TABLE, dnsResolverContract } from '../contract/dns-resolver.contract';
import { startLoopbackDnsServer } from './loopback-dns-server';
import { NodeDnsResolver, parseDnsServers } from './node-resolver';
import { TableResolver } from './table-resolver';

dnsResolverContract('table', async () => ({ resolver: new TableResolver(CONTRACT_TABLE), cleanup: async () => undefined }));

// node:dns (c-ares) over UDP to a DNS server on 127.0.0.1 serving the same table
dnsResolverContract('node:dns via a loopback DNS server', async () => {
  const server = await startLoopbackDnsServer(CONTRACT_TABLE);
  return { resolver: new NodeDnsResolver({ timeoutMs: 300, servers: parseDnsServers(server.address) }), cleanup: () => server.stop() };
});

describe('node resolver', () => {
  it('a server that never answers is ETIMEOUT after about the configured timeout, not later', async () => {
    const server = await startLoopbackDnsServer({ 'slow.test': { error: 'ETIMEOUT' } });
    try {
      const resolver = new NodeDnsResolver({ timeoutMs: 400, servers: [server.address] });
      const started = Date.now();
      await expect(resolver.resolveTxt('slow.test')).rejects.toMatchObject({ code: 'ETIMEOUT', name: 'DnsError' });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(server.questions).toContain('TXT slow.test');
    } finally {
      await server.stop();
    }
  });
});

describe('CachingResolver', () => {
  it('keeps answers and "no such record" for its TTL, never timeouts', async () => {
    let now = 0;
    const table = new TableResolver({ 'a.test': { TXT: ['one'] }, 'down.test': { error: 'ETIMEOUT' } });
    const cache = new CachingResolver(table, 1000, 100, () => now);
    expect(await cache.resolveTxt('a.test')).toEqual([['one']]);
    table.set('a.test', { TXT: ['two'] });
    expect(await cache.resolveTxt('A.test.')).toEqual([['one']]);
    await expect(cache.resolveTxt('none.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(cache.resolveTxt('none.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(cache.resolveTxt('down.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    await expect(cache.resolveTxt('down.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(table.queries.filter((q) => q === 'TXT none.test')).toHaveLength(1);
    expect(table.queries.filter((q) => q === 'TXT down.test')).toHaveLength(2);
    now = 1001;
    expect(await cache.resolveTxt('a.test')).toEqual([['two']]);
  });
});
