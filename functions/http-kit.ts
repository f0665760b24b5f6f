import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { MailError, isMailError, type ErrorCode } from '../core/errors';
import type { Principal } from '../core/auth';
import type { IfMatch } from '../core/drafts';
import type { User } from '../core/types';
import type { AppContext } from './app-context';

/** What /api/openapi.json says of a route; `body` and `query` are the very schemas the handler validates with. */
export interface RouteDoc {
  summary: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  success: { status: number; description: string };
  /** Error codes it may answer with (statuses from core/errors.ts). */
  errors: ErrorCode[];
  /** It answers a draft's version as an ETag (`drafts`: only when the message is a draft); `ifMatch`: and honours If-Match. */
  etag?: { ifMatch: boolean; drafts?: boolean };
}

/** One HTTP trigger: the same definition is mounted by the local host and registered with the Functions host. */
export interface RouteDef {
  /** Function name (unique), e.g. "mails-list". */
  name: string;
  methods: Array<'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'>;
  /** Route under /api, in Functions syntax: "mails/{id}/raw". */
  route: string;
  /** 'user' requires a valid bearer token. */
  auth: 'none' | 'user';
  /** 'upload': the host allows a body as large as a whole message (multipart attachments). */
  bodyLimit?: 'json' | 'upload';
  doc: RouteDoc;
  handler(app: AppContext, req: HttpRequest, ctx: RequestContext, principal: Principal | null): Promise<HttpResponseInit>;
}

/** What a route is told of its invocation (its name, for logs): the Functions host passes its InvocationContext; the local host, just that. */
export type RequestContext = Pick<InvocationContext, 'functionName'>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } };
}

/** `{error, code}` with the status from the error table; anything unexpected is a 500 with no detail. */
export function errorResponse(err: unknown, app: AppContext, ctx: RequestContext): HttpResponseInit {
  if (isMailError(err)) {
    if (err.http >= 500) app.logger.error({ err, fn: ctx.functionName }, 'request failed');
    const body: Record<string, unknown> = { error: err.message, code: err.code };
    if (err.details) Object.assign(body, err.details);
    const retryAfter = err.details?.retryAfterSeconds;
    return json(err.http, body, typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {});
  }
  app.logger.error({ err, fn: ctx.functionName }, 'unhandled error in handler');
  return json(500, { error: 'Internal error', code: 'Internal' });
}

/**
 * The client's address: the host puts it in x-forwarded-for (the local host
 * overwrites what a client sent; Azure's front end appends the address it saw, as
 * "ip:port" for IPv4, so the last entry is the one no client can forge).
 */
export function clientIp(req: HttpRequest): string {
  const last = (req.headers.get('x-forwarded-for') ?? '').split(',').pop()!.trim();
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(last);
  return (v4WithPort ? v4WithPort[1] : last.replace(/^\[(.*)\]:\d+$/, '$1')) || 'unknown';
}

export function bearerToken(headers: HeaderSource): string | null {
  const header = headers.get('authorization');
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/**
 * The If-Match header: null when absent, `*`, or the entity tags listed (quoted,
 * as sent; weak ones are kept and can never match a strong tag).
 */
export function ifMatch(req: HttpRequest): IfMatch {
  const header = req.headers.get('if-match');
  if (header === null) return null;
  if (header.trim() === '*') return '*';
  return header.match(/(?:W\/)?"[^"]*"/g) ?? [header.trim()];
}

/** Parses and validates a JSON body; 400 names the first bad field. */
export async function readJson<S extends z.ZodType>(req: HttpRequest, schema: S, maxBytes: number): Promise<z.infer<S>> {
  const length = Number(req.headers.get('content-length') ?? 0);
  if (length > maxBytes) throw new MailError('PayloadTooLarge');
  const text = await req.text();
  if (Buffer.byteLength(text) > maxBytes) throw new MailError('PayloadTooLarge');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MailError('MalformedJson');
  }
  return validate(schema, value);
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || '(body)';
    throw new MailError('ValidationFailed', `${field}: ${issue.message}`, { details: { field } });
  }
  return parsed.data;
}

export function queryObject(req: HttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  req.query.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

/** The signed-in user's record, as read when the token was checked (a token of a removed user is 401 before this). */
export async function currentUser(_app: AppContext, principal: Principal | null): Promise<User> {
  if (!principal) throw new MailError('Unauthenticated');
  return principal.user;
}

/** Admin routes: a signed-in non-admin gets 403 (the role is the user record's, not the token's). */
export function requireAdmin(principal: Principal | null): Principal {
  if (!principal || principal.role !== 'admin') throw new MailError('Forbidden', 'Administrators only');
  return principal;
}

/** Header access common to the Functions HttpRequest and the local host's raw request. */
export interface HeaderSource {
  get(name: string): string | null;
}

/**
 * Checks the bearer token against the user record, from the headers alone (the local
 * host calls this before it reads a byte of the body): the user exists, the token was
 * issued after the last password change and was not signed out. The principal's role
 * and address are the record's.
 */
export async function authenticate(app: AppContext, headers: HeaderSource): Promise<Principal> {
  const token = bearerToken(headers);
  if (!token) throw new MailError('Unauthenticated');
  const claims = app.tokens.verify(token);
  const session = await app.store.getUserSession(claims.sub);
  if (!session || session.tokenVersion !== claims.ver || session.revokedTokenIds.includes(claims.jti)) {
    throw new MailError('Unauthenticated', 'Invalid or expired token');
  }
  const { tokenVersion: _v, revokedTokenIds: _r, ...user } = session;
  return { ...claims, email: user.email, role: user.role, user };
}

/**
 * The audit log: security events and admin changes, one line each with `audit` set to
 * the event's name (never a password, token or body).
 */
export function audit(app: AppContext, event: string, fields: Record<string, unknown>): void {
  app.logger.info({ audit: event, ...fields }, event);
}

/** True for 127.0.0.0/8 and ::1 (with or without the IPv4-mapped prefix). */
export function isLoopback(address: string): boolean {
  return /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(address) || address === '::1';
}

/**
 * Wraps a route as a plain Functions v4 handler: authentication, then the route, errors
 * mapped. A host that authenticated already (before reading the body) passes the principal.
 */
export function toHandler(route: RouteDef, app: AppContext, opts: { accessLog?: boolean } = {}) {
  const accessLog = opts.accessLog ?? true;
  return async (req: HttpRequest, ctx: RequestContext, authenticated?: Principal): Promise<HttpResponseInit> => {
    const started = Date.now();
    let principal: Principal | null = null;
    let out: HttpResponseInit;
    try {
      principal = route.auth === 'user' ? (authenticated ?? (await authenticate(app, req.headers))) : null;
      out = await route.handler(app, req, ctx, principal);
    } catch (err) {
      out = errorResponse(err, app, ctx);
    }
    out = withSecurityHeaders(out);
    if (accessLog) logAccess(app, { method: req.method, route: route.name, status: out.status ?? 200, ms: Date.now() - started, userId: principal?.sub ?? null, ip: clientIp(req) });
    return out;
  };
}

/**
 * Headers every API answer carries, in both shapes: no MIME sniffing, nothing kept by
 * a shared or browser cache (every answer is someone's mail or session), and a policy
 * under which an answer opened in a browser (a download, the raw message) runs and
 * loads nothing.
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; sandbox",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

export function withSecurityHeaders(out: HttpResponseInit): HttpResponseInit {
  const headers = new Headers(out.headers as Record<string, string> | undefined);
  for (const [name, value] of Object.entries(API_SECURITY_HEADERS)) if (!headers.has(name)) headers.set(name, value);
  const plain: Record<string, string> = {};
  headers.forEach((value, name) => (plain[name] = value));
  return { ...out, headers: plain };
}

/** One line per request: never a token, a body or a query string (search words are private). */
export function logAccess(app: AppContext, line: { method: string; route: string; status: number; ms: number; userId: string | null; ip: string }): void {
  app.logger.info({ access: true, ...line }, 'http');
}

/** A Content-Disposition value that cannot inject headers or paths, with the UTF-8 name alongside. */
export function contentDisposition(kind: 'attachment' | 'inline', filename: string | null, fallback: string): string {
  const base = (filename ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[\x00-\x1f\x7f]/g, '').replace(/^\.+/, '').trim().slice(0, 200) || fallback;
  const ascii = cleaned.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%;]/g, '_');
  const encoded = encodeURIComponent(cleaned).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** Only a plain type/subtype goes into a Content-Type we serve. */
export function safeContentType(value: string | null | undefined): string {
  const match = /^([a-z0-9!#$&^_.+-]+)\/([a-z0-9!#$&^_.+-]+)$/i.exec((value ?? '').trim());
  return match ? `${match[1]}/${match[2]}`.toLowerCase() : 'application/octet-stream';
}
