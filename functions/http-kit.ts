import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import { MailError, isMailError, type ErrorCode } from '../core/errors';
import type { TokenClaims } from '../core/auth';
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
  handler(app: AppContext, req: HttpRequest, ctx: InvocationContext, principal: TokenClaims | null): Promise<HttpResponseInit>;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } };
}

/** `{error, code}` with the status from the error table; anything unexpected is a 500 with no detail. */
export function errorResponse(err: unknown, app: AppContext, ctx: InvocationContext): HttpResponseInit {
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

export function bearerToken(req: HttpRequest): string | null {
  const header = req.headers.get('authorization');
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
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

/** The signed-in user's record (a token of a removed user is 401). */
export async function currentUser(app: AppContext, principal: TokenClaims | null): Promise<User> {
  const user = principal ? await app.store.getUserById(principal.sub) : null;
  if (!user) throw new MailError('Unauthenticated');
  return user;
}

/** Admin routes: a signed-in non-admin gets 403. */
export function requireAdmin(principal: TokenClaims | null): TokenClaims {
  if (!principal || principal.role !== 'admin') throw new MailError('Forbidden', 'Administrators only');
  return principal;
}

/** Removes blobs nothing references any more; a failure leaves an orphan (logged), never a dangling message. */
export async function removeBlobs(app: AppContext, keys: string[]): Promise<void> {
  await Promise.all(keys.map((key) => app.blobs.delete(key).catch((err) => app.logger.error({ err, key }, 'could not remove blob'))));
}

/** Wraps a route as a plain Functions v4 handler: authentication, then the route, errors mapped. */
export function toHandler(route: RouteDef, app: AppContext) {
  return async (req: HttpRequest, ctx: InvocationContext): Promise<HttpResponseInit> => {
    try {
      let principal: TokenClaims | null = null;
      if (route.auth === 'user') {
        const token = bearerToken(req);
        if (!token) throw new MailError('Unauthenticated');
        principal = app.tokens.verify(token);
        if (!(await app.store.getUserById(principal.sub))) throw new MailError('Unauthenticated', 'Invalid or expired token');
      }
      return await route.handler(app, req, ctx, principal);
    } catch (err) {
      return errorResponse(err, app, ctx);
    }
  };
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
