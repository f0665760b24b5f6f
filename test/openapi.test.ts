import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../functions/http/routes';
import { startTestHost, type TestHost } from './helpers';

describe('GET /api/openapi.json', () => {
  let host: TestHost;
  let doc: any;
  beforeAll(async () => {
    host = await startTestHost();
    const res = await host.api('/openapi.json');
    expect(res.status).toBe(200);
    doc = await res.json();
  });
  afterAll(async () => {
    await host.destroy();
  });

  it('is OpenAPI 3.1 and documents every mounted route and method, and nothing else', () => {
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const mounted = routes.flatMap((r) => r.methods.map((m) => `${m} /api/${r.route}`));
    expect(documented.sort()).toEqual(mounted.sort());
  });

  it('every documented route answers (never the router 404) and its request schema is the one validating it', async () => {
    for (const route of routes) {
      for (const method of route.methods) {
        const path = '/' + route.route.replace(/\{\w+\}/g, 'x');
        const res = await host.api(path, { method, token: host.token, body: method === 'GET' ? undefined : '{}' });
        const body = (res.headers.get('content-type')?.includes('json') ? await res.json() : null) as { error?: string; code?: string } | null;
        expect([route.name, body?.error === 'Not found' && body?.code === 'NotFound']).toEqual([route.name, false]);
      }
    }
    const login = doc.paths['/api/auth/login'].post;
    expect(login.requestBody.content['application/json'].schema.required.sort()).toEqual(['email', 'password']);
    const list = doc.paths['/api/mails'].get.parameters.map((p: { name: string }) => p.name).sort();
    expect(list).toEqual(['cursor', 'flagged', 'limit', 'mailbox', 'q', 'unread']);
    expect(doc.paths['/api/mails/{id}'].get.parameters[0]).toMatchObject({ name: 'id', in: 'path', required: true });
    expect(doc.paths['/api/mails/{id}'].get.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/auth/login'].post.responses['429']).toBeDefined();
    // draft writes take If-Match and answer 412 and an ETag; reads answer the ETag
    for (const [path, method] of [['/api/mails/{id}', 'put'], ['/api/mails/{id}/attachments', 'post'], ['/api/mails/{id}/attachments/{attachmentId}', 'delete']]) {
      const op = doc.paths[path][method];
      expect(op.parameters.find((p: { name: string }) => p.name === 'If-Match'), `${method} ${path}`).toMatchObject({ in: 'header', required: false });
      expect(op.responses['412'].description).toBe('PreconditionFailed');
      expect(Object.values(op.responses).some((r) => (r as { headers?: { ETag?: unknown } }).headers?.ETag)).toBe(true);
    }
    expect(doc.paths['/api/mails/{id}'].get.responses['200'].headers.ETag).toBeDefined();
  });
});
