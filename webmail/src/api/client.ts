/**
 * The one typed API client. Every call goes through `call`, whose path, method, query
 * and body are checked against `openapi.gen.ts` (generated from the server's OpenAPI
 * document); answers are typed in `types.ts`. URLs are relative (`/api/...`), so the
 * same build works behind the local host and behind the Function App.
 */
import { createStore } from '../store';
import type { components, paths } from './openapi.gen';
import type { DomainView, DraftView, Mailbox, MessageListItem, MessageView, Page, SendResult, Session, User } from './types';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Path = keyof paths;
type MethodOf<P extends Path> = { [M in Method]: paths[P][M] extends undefined ? never : M }[Method];
type Operation<P extends Path, M extends Method> = NonNullable<paths[P][M]>;
type QueryOf<P extends Path, M extends Method> = Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
type BodyOf<P extends Path, M extends Method> = Operation<P, M> extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;
type PathParams<P> = P extends `${string}{${infer K}}${infer Rest}` ? { [key in K]: string } & PathParams<Rest> : unknown;

/** The server's codes (generated from its error table) and the client's own. */
export type ErrorCode = components['schemas']['Error']['code'] | 'Network' | 'Timeout' | 'Unknown' | 'OtherUser';

/** Every failure the client reports: the API's `{error, code}` with its status, or a network fault (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
  /** The server could not be reached, timed out, or answered that it is temporarily unable to. */
  get unreachable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

// ---- session: the token lives in localStorage so every tab shares it and a reload keeps it ----

const SESSION_KEY = 'nimbus.session';

function readSession(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') as Session | null;
    return s && typeof s.token === 'string' && s.user ? s : null;
  } catch {
    return null;
  }
}

/** The signed-in user and token, or null. */
export const session = createStore<Session | null>(readSession());
/** True after the server answered 401 to a signed-in request: the app asks for the password again, in place. */
export const sessionExpired = createStore(false);
/** Whether the last requests reached the server; the shell shows a banner with a retry when not. */
export const connection = createStore<{ down: boolean; message: string }>({ down: false, message: '' });

export function saveSession(s: Session | null): void {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
  if (!s) shownUser = null;
  session.set(s);
  sessionExpired.set(false);
}

// another tab signed in or out: a new session here too (a token that fails will say so again)
window.addEventListener('storage', (e) => {
  if (e.key !== SESSION_KEY) return;
  const now = readSession();
  const renewed = now?.token !== session.get()?.token;
  session.set(now);
  if (renewed) sessionExpired.set(false);
});

const token = () => readSession()?.token ?? null;

/**
 * The user whose mail the app shows (App.tsx sets it once it has started for them; null before,
 * and after signing out). A request made for that view goes out only with that user's token.
 * Another user's sign-in reaches the stored session before the view goes away (another tab's at
 * once, this tab's "Sign in again" dialog before the app has started over), and a request made
 * in that moment is refused here instead of reaching their account. Only the start-up's own
 * requests, which find out who is signed in, go with whichever session is stored (`anyUser`).
 */
let shownUser: string | null = null;
export function setShownUser(id: string): void {
  shownUser = id;
}

/** The stored session to send a signed-in request with; throws if it is not the shown user's (see shownUser). */
function sessionToSend(anyUser = false): Session | null {
  const s = readSession();
  if (s && !anyUser && shownUser !== null && s.user.id !== shownUser) throw new ApiError(403, 'OtherUser', 'Signed in as someone else.');
  return s;
}

/**
 * The session to send a request again with, after a 401 to `sent`: the same user signed in again
 * while it was on its way (another token is stored now), so the 401 says nothing about the new
 * session. Null otherwise (the token sent is still the stored one, nobody is signed in, or another
 * user is: a request of one user is never sent with another's token).
 */
function renewedSession(sent: Session): Session | null {
  const now = readSession();
  return now && now.token !== sent.token && now.user.id === sent.user.id ? now : null;
}

// ---- requests ----

interface CallOptions {
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Requests without a token (login, setup) never expire the session. */
  auth?: boolean;
  /** The start-up's requests: sent with the stored session whoever's it is (see shownUser). */
  anyUser?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Where the API is: /api on this origin (relative URLs: the local host, or anything that
 * routes /api to the Functions), unless the build was given VITE_NIMBUS_API_URL (the
 * Function App's https://<app>.azurewebsites.net/api, when the webmail is hosted apart).
 */
const API_ROOT = (import.meta.env.VITE_NIMBUS_API_URL ?? '').replace(/\/+$/, '') || '/api';

function buildUrl(path: string, params: Record<string, string> = {}, query: CallOptions['query'] = {}): string {
  const filled = path.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(params[k] ?? '')).replace(/^\/api(?=\/)/, API_ROOT);
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${filled}?${s}` : filled;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let body: { error?: unknown; code?: unknown } & Record<string, unknown> = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON: a proxy's error page, or a body cut short
  }
  const message = typeof body.error === 'string' ? body.error : res.status >= 500 ? 'The server had a problem. Please try again.' : `Request failed (${res.status})`;
  const retryAfter = Number(res.headers.get('retry-after'));
  return new ApiError(res.status, (typeof body.code === 'string' ? body.code : 'Unknown') as ErrorCode, message, { ...body, ...(retryAfter ? { retryAfterSeconds: retryAfter } : {}) });
}

/**
 * Any request to the API: bearer token, timeout, `{error, code}` errors, 401 → session expired;
 * a 401 that answers a token the same user has renewed meanwhile → sent once more (renewedSession).
 */
export async function callPath(method: Method, path: string, opts: CallOptions = {}): Promise<Response> {
  return request(method, path, opts, opts.auth !== false ? sessionToSend(opts.anyUser) : null, true);
}

async function request(method: Method, path: string, opts: CallOptions, sent: Session | null, mayResend: boolean): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (sent) headers.authorization = `Bearer ${sent.token}`;
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) body = opts.body;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), opts.timeoutMs ?? 30_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal;
  let res: Response;
  try {
    res = await fetch(buildUrl(path, opts.params, opts.query), { method: method.toUpperCase(), headers, body, signal });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const timedOut = timeout.signal.aborted;
    const e = new ApiError(0, timedOut ? 'Timeout' : 'Network', timedOut ? 'The server is taking too long to answer.' : "Can't reach the server. Check your connection.");
    connection.set({ down: true, message: e.message });
    throw e;
  } finally {
    clearTimeout(timer);
  }
  if (res.ok) {
    if (connection.get().down) connection.set({ down: false, message: '' });
    return res;
  }
  const renewed = res.status === 401 && sent && mayResend ? renewedSession(sent) : null;
  if (renewed) {
    void res.body?.cancel().catch(() => undefined); // the 401's body is not read
    return request(method, path, opts, renewed, false);
  }
  const error = await errorFrom(res);
  if (error.unreachable) connection.set({ down: true, message: error.message });
  else if (connection.get().down) connection.set({ down: false, message: '' });
  // only if the token it was sent with is still the current one (an answer to a request sent before signing in again does not count)
  if (res.status === 401 && sent && sent.token === token()) sessionExpired.set(true);
  throw error;
}

/** A request checked against the generated OpenAPI types: the path must exist with this method, and so must its query and body fields. */
export function call<P extends Path, M extends MethodOf<P>>(
  method: M,
  path: P,
  opts: Omit<CallOptions, 'params' | 'query' | 'body'> & { params?: PathParams<P>; query?: QueryOf<P, M>; body?: BodyOf<P, M> } = {},
): Promise<Response> {
  return callPath(method, path, opts as CallOptions);
}

const json = async <T>(res: Promise<Response>): Promise<T> => (await (await res).json()) as T;
const done = async (res: Promise<Response>): Promise<void> => void (await res);

/** Bytes of an attachment or raw message (authenticated), for a download link or an image preview. */
export async function fetchBlob(path: string): Promise<Blob> {
  return (await callPath('get', path, { timeoutMs: 120_000 })).blob();
}

/**
 * Uploads files to a draft with progress (fetch cannot report upload progress, so this
 * one request uses XMLHttpRequest); errors are the same ApiError as everywhere else, and a
 * 401 to a token renewed meanwhile is sent once more, as callPath does.
 */
export function uploadToDraft(draftId: string, file: File, etag: string | null, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<{ draft: DraftView; etag: string | null }> {
  return new Promise((resolve, reject) => {
    const send = (sent: Session | null, mayResend: boolean) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', buildUrl('/api/mails/{id}/attachments', { id: draftId }));
      if (sent) xhr.setRequestHeader('authorization', `Bearer ${sent.token}`);
      if (etag) xhr.setRequestHeader('if-match', etag);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onload = () => {
        const res = new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, headers: { 'content-type': xhr.getResponseHeader('content-type') ?? '', 'retry-after': xhr.getResponseHeader('retry-after') ?? '' } });
        if (res.ok) {
          onProgress(1);
          void (res.json() as Promise<DraftView>).then((draft) => resolve({ draft, etag: xhr.getResponseHeader('etag') }), reject);
          return;
        }
        const renewed = xhr.status === 401 && sent && mayResend ? renewedSession(sent) : null;
        if (renewed) return send(renewed, false);
        void errorFrom(res).then((error) => {
          if (xhr.status === 401 && sent && sent.token === token()) sessionExpired.set(true);
          reject(error);
        });
      };
      xhr.onerror = () => reject(new ApiError(0, 'Network', "Can't reach the server. Check your connection."));
      xhr.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
      signal?.addEventListener('abort', () => xhr.abort(), { once: true });
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    };
    send(sessionToSend(), true);
  });
}

export type ListQuery = QueryOf<'/api/mails', 'get'>;
export type DraftBody = BodyOf<'/api/mails', 'post'>;

/** The draft's version, when the server gives one (hardening issue: ETag / If-Match on draft writes). */
const etagOf = (res: Response) => res.headers.get('etag');

export const api = {
  setupStatus: () => json<{ needed: boolean; codeNeeded: boolean }>(call('get', '/api/setup', { auth: false })),
  setup: (body: BodyOf<'/api/setup', 'post'>) => json<Session>(call('post', '/api/setup', { body, auth: false })),
  login: (body: BodyOf<'/api/auth/login', 'post'>) => json<Session>(call('post', '/api/auth/login', { body, auth: false })),
  me: (opts: { anyUser?: boolean } = {}) => json<User>(call('get', '/api/auth/me', opts)),
  changePassword: (body: BodyOf<'/api/auth/password', 'post'>) => done(call('post', '/api/auth/password', { body })),
  /** Revokes this token (the sign-out is local too, whatever the answer). */
  logout: () => done(call('post', '/api/auth/logout')),

  mailboxes: async (opts: { anyUser?: boolean } = {}) => (await json<{ items: Mailbox[] }>(call('get', '/api/mailboxes', opts))).items,
  createMailbox: (name: string) => json<Mailbox>(call('post', '/api/mailboxes', { body: { name } })),
  renameMailbox: (id: string, name: string) => json<Mailbox>(call('patch', '/api/mailboxes/{id}', { params: { id }, body: { name } })),
  deleteMailbox: (id: string, moveToTrash: boolean) => done(call('delete', '/api/mailboxes/{id}', { params: { id }, query: { moveToTrash: moveToTrash ? 'true' : 'false' } })),

  listMails: (query: ListQuery, signal?: AbortSignal) => json<Page<MessageListItem>>(call('get', '/api/mails', { query, signal })),
  getMail: (id: string, signal?: AbortSignal) => json<MessageView>(call('get', '/api/mails/{id}', { params: { id }, signal })),
  updateMail: (id: string, body: BodyOf<'/api/mails/{id}', 'patch'>) => json<MessageListItem>(call('patch', '/api/mails/{id}', { params: { id }, body })),
  updateMails: (body: BodyOf<'/api/mails', 'patch'>) => json<{ items: MessageListItem[]; notFound: string[] }>(call('patch', '/api/mails', { body })),
  deleteMails: (ids: string[]) => json<{ trashed: string[]; deleted: string[]; notFound: string[] }>(call('delete', '/api/mails', { body: { ids } })),

  createDraft: async (body: DraftBody) => {
    const res = await call('post', '/api/mails', { body });
    return { draft: (await res.json()) as DraftView, etag: etagOf(res) };
  },
  saveDraft: async (id: string, body: DraftBody, etag: string | null) => {
    const res = await call('put', '/api/mails/{id}', { params: { id }, body, headers: etag ? { 'if-match': etag } : {} });
    return { draft: (await res.json()) as DraftView, etag: etagOf(res) };
  },
  removeAttachment: async (id: string, attachmentId: string, etag: string | null) => {
    const res = await call('delete', '/api/mails/{id}/attachments/{attachmentId}', { params: { id, attachmentId }, headers: etag ? { 'if-match': etag } : {} });
    return { draft: (await res.json()) as DraftView, etag: etagOf(res) };
  },
  /** A message with its ETag (a draft's version, for If-Match on the next write). */
  getMailWithEtag: async (id: string) => {
    const res = await call('get', '/api/mails/{id}', { params: { id } });
    return { message: (await res.json()) as MessageView, etag: etagOf(res) };
  },
  attachmentUrl: (id: string, attachmentId: string) => buildUrl('/api/mails/{id}/attachments/{attachmentId}', { id, attachmentId }),
  rawUrl: (id: string) => buildUrl('/api/mails/{id}/raw', { id }),
  /** Sends a draft: 202 {id (the copy in Sent), delivery}; the draft leaves Drafts. */
  send: (draftId: string) => json<SendResult>(call('post', '/api/mails/{id}/send', { params: { id: draftId } })),

  users: async () => (await json<{ items: User[] }>(call('get', '/api/users'))).items,
  createUser: (body: BodyOf<'/api/auth/register', 'post'>) => json<User>(call('post', '/api/auth/register', { body })),
  deleteUser: (id: string) => done(call('delete', '/api/users/{id}', { params: { id } })),
  addAlias: (id: string, address: string) => json<{ userId: string; aliases: string[] }>(call('post', '/api/users/{id}/aliases', { params: { id }, body: { address } })),
  removeAlias: (id: string, address: string) => done(call('delete', '/api/users/{id}/aliases/{address}', { params: { id, address } })),
  /** Admin password reset → 204; the user's tokens stop working. */
  resetPassword: (id: string, password: string) => done(call('post', '/api/users/{id}/password', { params: { id }, body: { password } })),

  domains: async () => (await json<{ items: DomainView[] }>(call('get', '/api/domains'))).items,
  createDomain: (name: string) => json<DomainView>(call('post', '/api/domains', { body: { name } })),
  deleteDomain: (name: string) => done(call('delete', '/api/domains/{name}', { params: { name } })),
  verifyDomain: (name: string) => json<DomainView>(call('post', '/api/domains/{name}/verify', { params: { name }, timeoutMs: 60_000 })),
};

/** What this server offers, read from its OpenAPI document: screens for routes it lacks are hidden or explain why. */
export interface Capabilities {
  send: boolean;
  domains: boolean;
  logout: boolean;
  passwordReset: boolean;
}

export async function loadCapabilities(): Promise<Capabilities> {
  const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(callPath('get', '/api/openapi.json', { auth: false }));
  const has = (path: string, method: string) => Boolean(doc.paths?.[path]?.[method]);
  return {
    send: has('/api/mails/{id}/send', 'post'),
    domains: has('/api/domains', 'get'),
    logout: has('/api/auth/logout', 'post'),
    passwordReset: has('/api/users/{id}/password', 'post'),
  };
}
