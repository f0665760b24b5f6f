import { randomUUID } from 'node:crypto';
import { generateDkimKey } from './dkim';
import { checkRecords, expectedRecords, type CheckSettings } from './domain-check';
import { parseDomainName } from './domain-name';
import { nextDomainState } from './domain-schedule';
import { MailError } from './errors';
import type { Logger } from './logger';
import type { DnsResolver, DomainAuthProvider, MailStore } from './ports';
import type { DnsRecordSpec, Domain } from './types';

/** How long a check may hold its claim: longer than any check takes (a few DNS timeouts), short enough that a crashed checker's claim soon expires. */
export const CHECK_CLAIM_MS = 2 * 60_000;

export interface DomainServiceDeps {
  store: MailStore;
  /** Uncached: an owner who has just fixed a record sees it at once. */
  resolver: DnsResolver;
  settings: CheckSettings;
  /** SendGrid's domain authentication, when the outbound transport is SendGrid. */
  domainAuth: DomainAuthProvider | null;
  logger: Logger;
  now?: () => number;
}

export type CheckResult = { kind: 'checked'; domain: Domain } | { kind: 'busy'; domain: Domain } | { kind: 'missing' };

/**
 * Hosted domains: creation (DKIM key, SendGrid's records) and the DNS check that the
 * verify route, the local scheduler and the Durable activity all run. A check claims
 * the domain in the store first, so two checks of one domain never run at once, in
 * one process or across several; checks in this process of a domain already being
 * checked here join that check.
 */
export class DomainService {
  private readonly running = new Map<string, Promise<CheckResult>>();
  private readonly now: () => number;

  constructor(private readonly deps: DomainServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The records the owner must publish for this domain now (they follow the settings: mail host, transport). */
  expected(domain: Pick<Domain, 'name' | 'dkim' | 'sendgrid'>): DnsRecordSpec[] {
    return expectedRecords(domain, this.deps.settings);
  }

  /**
   * Validates the name (IDN allowed, stored as A-labels), makes the DKIM key, asks
   * SendGrid for its records when it sends, and stores the domain, pending, first
   * check due now. `Conflict` when hosted already; SendGrid trouble is a 503 and
   * nothing is stored.
   */
  async create(input: string): Promise<Domain> {
    const { ascii } = parseDomainName(input);
    if (await this.deps.store.getDomain(ascii)) throw new MailError('Conflict', `Domain already exists: ${ascii}`);
    const now = this.now();
    const dkim = await generateDkimKey(now);
    const sendgrid = this.deps.settings.sendgrid && this.deps.domainAuth ? await this.deps.domainAuth.authenticate(ascii) : null;
    const domain = await this.deps.store.createDomain(ascii, { dkim, sendgrid, nextCheckAt: now, createdAt: now });
    this.deps.logger.info({ domain: ascii, selector: dkim.selector, sendgrid: sendgrid?.id ?? null }, 'domain added');
    return domain;
  }

  /** Removes the domain (`Conflict` while addresses are on it), then SendGrid's entry for it, best effort. */
  async remove(name: string): Promise<void> {
    const domain = await this.deps.store.getDomain(name);
    if (!domain) throw new MailError('NotFound', 'Domain not found');
    await this.deps.store.deleteDomain(domain.name);
    if (domain.sendgrid && this.deps.domainAuth) {
      await this.deps.domainAuth.remove(domain.sendgrid.id).catch((err) => this.deps.logger.warn({ err, domain: domain.name }, 'could not remove the domain at SendGrid'));
    }
    this.deps.logger.info({ domain: domain.name }, 'domain removed');
  }

  /**
   * Checks the domain's DNS now and stores the outcome (status, per-record results,
   * next check time). `busy` when another process holds the claim; `missing` when
   * the domain is gone. A check already running here is joined, not repeated.
   */
  check(name: string): Promise<CheckResult> {
    const key = name.toLowerCase();
    const inFlight = this.running.get(key);
    if (inFlight) return inFlight;
    const run = this.runCheck(key).finally(() => this.running.delete(key));
    this.running.set(key, run);
    return run;
  }

  /** Whether a check of this domain is running in this process. */
  isChecking(name: string): boolean {
    return this.running.has(name.toLowerCase());
  }

  /** For the verify route: waits (up to `waitMs`) while another process checks the domain, then checks it. */
  async checkNow(name: string, waitMs = 30_000): Promise<Domain> {
    const until = Date.now() + waitMs;
    for (;;) {
      const result = await this.check(name);
      if (result.kind === 'missing') throw new MailError('NotFound', 'Domain not found');
      if (result.kind === 'checked') return result.domain;
      if (Date.now() > until) throw new MailError('TemporaryFailure', 'A check of this domain is running elsewhere; try again in a minute');
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async runCheck(name: string): Promise<CheckResult> {
    const { store, logger } = this.deps;
    const token = randomUUID();
    const claimedAt = this.now();
    const claim = await store.claimDomainCheck(name, token, claimedAt, claimedAt + CHECK_CLAIM_MS);
    if (claim === 'missing') return { kind: 'missing' };
    const current = await store.getDomain(name);
    if (!current) return { kind: 'missing' };
    if (claim === 'busy') return { kind: 'busy', domain: current };
    try {
      const domain = await this.completeSetup(current);
      const records = await checkRecords(this.deps.resolver, domain, this.deps.settings);
      const state = nextDomainState(domain, records, this.now());
      let saved = await store.saveDomainCheck(name, token, state);
      saved = await this.confirmSendgrid(saved);
      if (saved.status !== domain.status) logger.info({ domain: name, from: domain.status, to: saved.status, reason: saved.reason }, 'domain status changed');
      return { kind: 'checked', domain: saved };
    } catch (err) {
      await store.releaseDomainCheck(name, token).catch(() => undefined);
      throw err;
    }
  }

  /** A domain from before keys were made gets its key; with SendGrid as the transport, SendGrid's records (retried at each check until obtained). */
  private async completeSetup(domain: Domain): Promise<Domain> {
    let out = domain;
    if (!out.dkim) {
      const dkim = await generateDkimKey(this.now());
      await this.deps.store.setDomainDkim(out.name, dkim);
      out = { ...out, dkim };
    }
    if (this.deps.settings.sendgrid && this.deps.domainAuth && !out.sendgrid) {
      try {
        const sendgrid = await this.deps.domainAuth.authenticate(out.name);
        await this.deps.store.setDomainSendgrid(out.name, sendgrid);
        out = { ...out, sendgrid };
      } catch (err) {
        this.deps.logger.warn({ err, domain: out.name }, 'SendGrid did not give its records; will ask again at the next check');
      }
    }
    return out;
  }

  /** Once SendGrid's CNAMEs are right in DNS, asks SendGrid to validate them (it signs only for validated domains). */
  private async confirmSendgrid(domain: Domain): Promise<Domain> {
    const auth = domain.sendgrid;
    if (!auth || auth.valid || !this.deps.domainAuth || !this.deps.settings.sendgrid) return domain;
    const theirs = domain.records.filter((r) => r.purpose === 'sendgrid');
    if (!theirs.length || theirs.some((r) => r.status !== 'ok')) return domain;
    try {
      if (!(await this.deps.domainAuth.validate(auth.id))) return domain;
      const next = { ...auth, valid: true };
      await this.deps.store.setDomainSendgrid(domain.name, next);
      return { ...domain, sendgrid: next };
    } catch (err) {
      this.deps.logger.warn({ err, domain: domain.name }, 'SendGrid validation failed; will try at the next check');
      return domain;
    }
  }
}
