import { MailError } from '../../core/errors';
import type { DomainAuthProvider } from '../../core/ports';
import type { DnsRecordSpec, RecordType, SendgridDomainAuth } from '../../core/types';

export interface SendgridOptions {
  /** NIMBUS_SENDGRID_BASE_URL (tests point it at a loopback fake). */
  baseUrl: string;
  /** NIMBUS_SENDGRID_API_KEY: sent as a bearer token, never logged or put in an error. */
  apiKey: string;
  timeoutMs?: number;
}

/** SendGrid's domain-authentication entry as its v3 API answers it (the fields used here). */
interface WhitelabelDomain {
  id: number;
  domain: string;
  valid: boolean;
  dns: Record<string, { host: string; type: string; data: string; valid?: boolean }>;
}

const TYPES: Record<string, RecordType> = { cname: 'CNAME', txt: 'TXT', mx: 'MX' };

function toAuth(body: WhitelabelDomain): SendgridDomainAuth {
  const records: DnsRecordSpec[] = Object.keys(body.dns ?? {})
    .sort()
    .map((k) => body.dns[k])
    .filter((r) => r && typeof r.host === 'string' && typeof r.data === 'string' && TYPES[String(r.type).toLowerCase()])
    .map((r) => ({ type: TYPES[r.type.toLowerCase()], host: r.host.toLowerCase().replace(/\.$/, ''), value: r.data.replace(/\.$/, ''), purpose: 'sendgrid' }));
  return { id: body.id, valid: Boolean(body.valid), records };
}

/**
 * SendGrid's domain authentication (v3 `/whitelabel/domains`): the CNAME records a
 * domain owner publishes so SendGrid signs the domain's mail (SendGrid refuses a
 * DKIM-Signature of ours, see DESIGN). With automatic security SendGrid asks for
 * three CNAMEs (mail_cname, dkim1, dkim2). Every failure is a MailError without the
 * key: 401/403 say the key is wrong, anything else is temporary.
 */
export class SendgridDomainAuthClient implements DomainAuthProvider {
  constructor(private readonly opts: SendgridOptions) {}

  private async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.opts.baseUrl), {
        method,
        headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000),
      });
    } catch (err) {
      throw new MailError('TemporaryFailure', `SendGrid could not be reached (${(err as Error).name})`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.status === 401 || res.status === 403) throw new MailError('TemporaryFailure', `SendGrid refused the API key (HTTP ${res.status}): check NIMBUS_SENDGRID_API_KEY and its scopes`);
    return { status: res.status, json };
  }

  async authenticate(domain: string): Promise<SendgridDomainAuth> {
    const created = await this.request('POST', '/v3/whitelabel/domains', { domain, automatic_security: true, custom_spf: false, default: false });
    if (created.status === 200 || created.status === 201) return toAuth(created.json as WhitelabelDomain);
    // already authenticated there (a domain removed and added again): use SendGrid's entry
    const existing = await this.request('GET', `/v3/whitelabel/domains?domain=${encodeURIComponent(domain)}`);
    const match = Array.isArray(existing.json) ? (existing.json as WhitelabelDomain[]).find((d) => d.domain?.toLowerCase() === domain) : undefined;
    if (existing.status === 200 && match) return toAuth(match);
    throw new MailError('TemporaryFailure', `SendGrid did not authenticate ${domain} (HTTP ${created.status})`);
  }

  async validate(id: number): Promise<boolean> {
    const res = await this.request('POST', `/v3/whitelabel/domains/${id}/validate`);
    if (res.status !== 200) throw new MailError('TemporaryFailure', `SendGrid did not validate domain ${id} (HTTP ${res.status})`);
    return Boolean((res.json as { valid?: boolean })?.valid);
  }

  async remove(id: number): Promise<void> {
    const res = await this.request('DELETE', `/v3/whitelabel/domains/${id}`);
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) throw new MailError('TemporaryFailure', `SendGrid did not remove domain ${id} (HTTP ${res.status})`);
  }
}
