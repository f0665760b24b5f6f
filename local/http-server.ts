import type { HttpResponseInit } from '@azure/functions';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Principal } from '../core/auth';
import { isMailError } from '../core/errors';
import type { AppContext } from '../functions/app-context';
import { API_SECURITY_HEADERS, authenticate, errorResponse, logAccess, toHandler, type RequestContext, type RouteDef } from '../functions/http-kit';
import { addressMatcher } from '../core/address-match';
import { LocalHttpRequest } from './local-request';

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
  // the host writes the access log itself (it sees the final status and the refusals before a handler)
  return { def, pattern: new RegExp(`^/api/${source}/?$`), paramNames, handler: toHandler(def, app, { accessLog: false }) };
}

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...API_SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

/** The body, or null once it passes `max` (reading stops there: nothing past the limit is held). */
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

/** Answers before the body was read: the connection closes, so the unread body cannot be taken for the next request. */
function refuseUnread(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  res.shouldKeepAlive = false;
  sendJson(res, status, body, { connection: 'close', ...extra });
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
 * exactly the code that the Functions host runs: HttpRequest in (a LocalHttpRequest over
 * the body already read: local-request.ts), HttpResponseInit out.
 */
export interface HttpServerOptions {
  maxBodyBytes: number;
  maxUploadBytes: number;
  /** Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR ranges). */
  trustedProxies?: string[];
  /** How long a client may take to send its headers, and its whole request. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Serves every path outside /api (the webmail). */
  site?: (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<void>;
}

/**
 * The client's address: the socket's, unless the socket is a trusted proxy; then the
 * last X-Forwarded-For entry not added by a trusted proxy (entries further left are
 * the client's own claims and are not believed).
 */
export function clientAddress(socketAddress: string, forwardedFor: string | undefined, isTrustedProxy: (ip: string) => boolean): string {
  let address = socketAddress.replace(/^::ffff:/, '');
  if (!forwardedFor || !isTrustedProxy(address)) return address;
  const hops = forwardedFor.split(',').map((h) => h.trim()).filter(Boolean);
  while (hops.length && isTrustedProxy(address)) address = hops.pop()!.replace(/^::ffff:/, '');
  return address;
}

export function createHttpServer(app: AppContext, routes: RouteDef[], opts: HttpServerOptions): { server: Server; listen(port: number, host: string): Promise<AddressInfo>; close(): Promise<void> } {
  const mounted = routes.map((def) => compile(def, app));
  const isTrustedProxy = addressMatcher(opts.trustedProxies ?? []);
  const requestTimeout = opts.requestTimeoutMs ?? 120_000;
  const server = createServer(
    // a client that sends its headers or its request slowly is cut off (408), and often checked for it
    { headersTimeout: opts.headersTimeoutMs ?? 10_000, requestTimeout, connectionsCheckingInterval: 1_000 },
    (req, res) => {
      const started = Date.now();
      const line = { method: req.method ?? '?', route: 'unmatched', userId: null as string | null, ip: '' };
      res.on('finish', () => logAccess(app, { ...line, status: res.statusCode, ms: Date.now() - started }));
      handle(req, res, line).catch((err) => {
        app.logger.error({ err }, 'http request failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'Internal error', code: 'Internal' });
        else res.destroy();
      });
    },
  );
  // an idle keep-alive connection is not held for long either
  server.keepAliveTimeout = 5_000;

  async function handle(req: IncomingMessage, res: ServerResponse, line: { route: string; userId: string | null; ip: string }): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    // rate limits and setup key on this: the socket's address, or a trusted proxy's word for it
    delete headers['x-original-forwarded-for'];
    delete headers['x-nimbus-via-proxy'];
    if (headers['x-forwarded-for'] !== undefined) headers['x-original-forwarded-for'] = headers['x-forwarded-for'];
    // a request from a trusted proxy came from somewhere else, whatever headers the proxy set (or did not)
    if (isTrustedProxy((req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''))) headers['x-nimbus-via-proxy'] = '1';
    headers['x-forwarded-for'] = line.ip = clientAddress(req.socket.remoteAddress ?? 'unknown', headers['x-forwarded-for'], isTrustedProxy);
    const headerSource = { get: (name: string) => headers[name.toLowerCase()] ?? null };
    if (opts.site && url.pathname !== '/api' && !url.pathname.startsWith('/api/')) {
      line.route = 'webmail';
      return opts.site(req, res, url.pathname);
    }

    let pathMatched = false;
    for (const m of mounted) {
      const match = m.pattern.exec(url.pathname);
      if (!match) continue;
      pathMatched = true;
      if (!m.def.methods.includes(method as RouteDef['methods'][number])) continue;
      line.route = m.def.name;
      const params: Record<string, string> = {};
      try {
        m.paramNames.forEach((name, i) => (params[name] = decodeURIComponent(match[i + 1])));
      } catch {
        return refuseUnread(res, 400, { error: 'Malformed path', code: 'ValidationFailed' });
      }
      const context: RequestContext = { functionName: m.def.name };
      // who is asking, from the headers alone: no body is read for a caller without a valid token
      let principal: Principal | undefined;
      if (m.def.auth === 'user') {
        try {
          principal = await authenticate(app, headerSource);
          line.userId = principal.sub;
        } catch (err) {
          if (!isMailError(err)) throw err;
          const out = errorResponse(err, app, context);
          return refuseUnread(res, out.status ?? 401, out.jsonBody, (out.headers ?? {}) as Record<string, string>);
        }
      }
      const limit = m.def.bodyLimit === 'upload' ? opts.maxUploadBytes : opts.maxBodyBytes;
      const hasBody = method !== 'GET' && method !== 'HEAD';
      if (hasBody && Number(headers['content-length'] ?? 0) > limit) return refuseUnread(res, 413, { error: 'Request body too large', code: 'PayloadTooLarge' });
      const body = hasBody ? await readBody(req, limit) : Buffer.alloc(0);
      if (body === null) return refuseUnread(res, 413, { error: 'Request body too large', code: 'PayloadTooLarge' });
      const query: Record<string, string> = {};
      url.searchParams.forEach((v, k) => (query[k] = v));
      const request = new LocalHttpRequest(method, url.toString(), new Headers(headers), new URLSearchParams(query), params, body.length ? body : null);
      await writeResponse(res, await m.handler(request, context, principal));
      return;
    }
    if (pathMatched) return refuseUnread(res, 405, { error: 'Method not allowed', code: 'MethodNotAllowed' });
    refuseUnread(res, 404, { error: 'Not found', code: 'NotFound' });
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
