import { Resolver } from 'node:dns/promises';
import { DnsError } from '../../core/dns';
import type { DnsResolver, MxRecord } from '../../core/ports';

export interface NodeResolverOptions {
  /** Per query and server (NIMBUS_DNS_TIMEOUT_MS). */
  timeoutMs: number;
  /** IP or IP:port each (NIMBUS_DNS_SERVERS); the system's servers when empty. */
  servers?: string[];
}

/** NIMBUS_DNS_SERVERS as setServers takes it. */
export function parseDnsServers(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The production DnsResolver: node:dns/promises (c-ares) with a timeout, one try per
 * server, and the configured servers. Its errors carry node's codes (ETIMEOUT,
 * ENOTFOUND, ESERVFAIL, ...) as DnsError.
 */
export class NodeDnsResolver implements DnsResolver {
  private readonly resolver: Resolver;

  constructor(opts: NodeResolverOptions) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs, tries: 1 });
    if (opts.servers?.length) this.resolver.setServers(opts.servers);
  }

  private async ask<T>(type: string, name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw DnsError.from(err, name, type);
    }
  }

  resolveMx(name: string): Promise<MxRecord[]> {
    return this.ask('MX', name, () => this.resolver.resolveMx(name));
  }
  resolveTxt(name: string): Promise<string[][]> {
    return this.ask('TXT', name, () => this.resolver.resolveTxt(name));
  }
  resolveCname(name: string): Promise<string[]> {
    return this.ask('CNAME', name, () => this.resolver.resolveCname(name));
  }
  resolve4(name: string): Promise<string[]> {
    return this.ask('A', name, () => this.resolver.resolve4(name));
  }
  resolve6(name: string): Promise<string[]> {
    return this.ask('AAAA', name, () => this.resolver.resolve6(name));
  }
  resolvePtr(name: string): Promise<string[]> {
    return this.ask('PTR', name, () => this.resolver.resolvePtr(name));
  }
}

/** The resolver the settings ask for: NIMBUS_DNS_TIMEOUT_MS, NIMBUS_DNS_SERVERS (else the system's). */
export function resolverFromConfig(config: { NIMBUS_DNS_TIMEOUT_MS: number; NIMBUS_DNS_SERVERS?: string }): NodeDnsResolver {
  return new NodeDnsResolver({ timeoutMs: config.NIMBUS_DNS_TIMEOUT_MS, servers: parseDnsServers(config.NIMBUS_DNS_SERVERS) });
}
