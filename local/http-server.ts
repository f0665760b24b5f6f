import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AppContext } from '../functions/app-context';
import { toHandler, type RouteDef } from '../functions/http-kit';

interface Mounted {
  def: RouteDef;
  pattern: RegExp;
  paramNames: string[];
  handler: ReturnType<typeof toHandler>;
}

function compile(def: RouteDef, app: AppContext): Mounted {
  const paramNames: string[] = [];
  const source = def.route
    .split('/')
    .map((segment) => {
      const m = /^\{(\w+)\}$/.exec(segment);
      if (m) {
        paramNames.push(m[1]);
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { def, pattern: new RegExp(`^/api/${source}/?$`), paramNames, handler: toHandler(def, app) };
}

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

async function writeResponse(res: ServerResponse, out: HttpResponseInit): Promise<void> {
  const headers: Record<string, string> = {};
  if (out.headers) new Headers(out.headers as Record<string, string>).forEach((v, k) => (headers[k] = v));
  const status = out.status ?? 200;
  if (out.jsonBody !== undefined) {
    const text = JSON.stringify(out.jsonBody);
    headers['content-type'] ??= 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(status, headers);
    res.end(text);
    return;
  }
  const body = out.body;
  if (body === undefined || body === null) {
    res.writeHead(status, headers);
    res.end();
  } else if (typeof body === 'string' || body instanceof Uint8Array) {
    res.writeHead(status, headers);
    res.end(body);
  } else if (body instanceof Readable || Symbol.asyncIterator in (body as object)) {
    res.writeHead(status, headers);
    await pipeline(body as AsyncIterable<Uint8Array>, res);
  } else {
    throw new Error('unsupported response body');
  }
}

/**
 * Mounts the Functions HTTP handlers on a plain Node server, so the local host runs
 * exactly the code that the Functions host runs: HttpRequest in, HttpResponseInit out.
 */
export function createHttpServer(app: AppContext, routes: RouteDef[], opts: { maxBodyBytes: number; maxUploadBytes: number }): { server: Server; listen(port: number, host: string): Promise<AddressInfo>; close(): Promise<void> } {
  const mounted = routes.map((def) => compile(def, app));
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      app.logger.error({ err }, 'http request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'Internal error', code: 'Internal' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    let pathMatched = false;
    for (const m of mounted) {
      const match = m.pattern.exec(url.pathname);
      if (!match) continue;
      pathMatched = true;
      if (!m.def.methods.includes(method as RouteDef['methods'][number])) continue;
      const params: Record<string, string> = {};
      try {
        m.paramNames.forEach((name, i) => (params[name] = decodeURIComponent(match[i + 1])));
      } catch {
        return sendJson(res, 400, { error: 'Malformed path', code: 'ValidationFailed' });
      }
      const limit = m.def.bodyLimit === 'upload' ? opts.maxUploadBytes : opts.maxBodyBytes;
      const body = method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : await readBody(req, limit);
      if (body === null) {
        res.setHeader('connection', 'close');
        return sendJson(res, 413, { error: 'Request body too large', code: 'PayloadTooLarge' });
      }
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
      }
      // the socket's address, whatever the client claimed: rate limits key on it
      headers['x-forwarded-for'] = (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
      const query: Record<string, string> = {};
      url.searchParams.forEach((v, k) => (query[k] = v));
      const request = new HttpRequest({ method, url: url.toString(), headers, query, params, body: body.length ? { bytes: body } : undefined });
      const context = new InvocationContext({ functionName: m.def.name, invocationId: randomUUID() });
      await writeResponse(res, await m.handler(request, context));
      return;
    }
    if (pathMatched) return sendJson(res, 405, { error: 'Method not allowed', code: 'MethodNotAllowed' });
    sendJson(res, 404, { error: 'Not found', code: 'NotFound' });
  }

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
