import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for SendGrid's v3 domain-authentication API on 127.0.0.1 (the real one is
 * on the internet, which tests never reach). It answers as SendGrid documents:
 * POST /v3/whitelabel/domains → 201 with three CNAMEs (automatic security),
 * GET ?domain= → the list, POST /{id}/validate → {valid}, DELETE /{id} → 204; a wrong
 * bearer key is 401. `failNext` makes the next call answer that status.
 */
export interface FakeSendgrid {
  baseUrl: string;
  requests: Array<{ method: string; path: string; authorization: string | undefined; body: unknown }>;
  domains: Map<number, { id: number; domain: string; valid: boolean }>;
  /** What validate answers. */
  validAnswer: boolean;
  failNext: number | null;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : null;
}

export async function startFakeSendgrid(apiKey: string): Promise<FakeSendgrid> {
  let nextId = 100;
  const fake: FakeSendgrid = { baseUrl: '', requests: [], domains: new Map(), validAnswer: true, failNext: null, stop: async () => undefined };
  const view = (d: { id: number; domain: string; valid: boolean }) => ({
    id: d.id,
    domain: d.domain,
    subdomain: `em${d.id}`,
    valid: d.valid,
    automatic_security: true,
    dns: {
      mail_cname: { valid: d.valid, type: 'cname', host: `em${d.id}.${d.domain}`, data: `u${d.id}.wl.sendgrid.net` },
      dkim1: { valid: d.valid, type: 'cname', host: `s1._domainkey.${d.domain}`, data: `s1.domainkey.u${d.id}.wl.sendgrid.net` },
      dkim2: { valid: d.valid, type: 'cname', host: `s2._domainkey.${d.domain}`, data: `s2.domainkey.u${d.id}.wl.sendgrid.net` },
    },
  });
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const body = await readBody(req).catch(() => null);
    fake.requests.push({ method: req.method ?? '', path: url.pathname + url.search, authorization: req.headers.authorization, body });
    const send = (status: number, value?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(value === undefined ? '' : JSON.stringify(value));
    };
    if (req.headers.authorization !== `Bearer ${apiKey}`) return send(401, { errors: [{ message: 'authorization required' }] });
    if (fake.failNext !== null) {
      const status = fake.failNext;
      fake.failNext = null;
      return send(status, { errors: [{ message: 'failure on purpose' }] });
    }
    const m = /^\/v3\/whitelabel\/domains(?:\/(\d+)(\/validate)?)?$/.exec(url.pathname);
    if (!m) return send(404, { errors: [{ message: 'not found' }] });
    const id = m[1] ? Number(m[1]) : null;
    if (req.method === 'POST' && id === null) {
      const domain = String((body as { domain?: string })?.domain ?? '');
      if ([...fake.domains.values()].some((d) => d.domain === domain)) return send(400, { errors: [{ field: 'domain', message: 'This domain already exists' }] });
      const entry = { id: nextId++, domain, valid: false };
      fake.domains.set(entry.id, entry);
      return send(201, view(entry));
    }
    if (req.method === 'GET' && id === null) return send(200, [...fake.domains.values()].filter((d) => !url.searchParams.get('domain') || d.domain === url.searchParams.get('domain')).map(view));
    const entry = id === null ? undefined : fake.domains.get(id);
    if (!entry) return send(404, { errors: [{ message: 'not found' }] });
    if (req.method === 'POST' && m[2]) {
      entry.valid = fake.validAnswer;
      return send(200, { id: entry.id, valid: entry.valid, validation_results: {} });
    }
    if (req.method === 'DELETE') {
      fake.domains.delete(entry.id);
      return send(204);
    }
    send(405, { errors: [{ message: 'method' }] });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return fake;
}
