import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The project root: the first folder up from here with a package.json (works from the sources and from dist/). */
function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/**
 * The webmail's headers, from webmail/security-headers.json (the Static Web App config is
 * written from the same file). The HTML mail the app shows lives in a sandboxed srcdoc
 * iframe, which inherits this policy: no inline script anywhere (`script-src 'self'`),
 * inline styles allowed (mail needs them), images from anywhere (the app itself blocks
 * remote images until the user allows them, and sets a stricter policy inside the
 * frame), nothing framed by others, no plugins, no <base>.
 */
export function webmailSecurityHeaders(file = join(projectRoot(), 'webmail', 'security-headers.json')): Record<string, string> {
  const spec = JSON.parse(readFileSync(file, 'utf8')) as { contentSecurityPolicy: string[]; headers: Record<string, string> };
  return { 'content-security-policy': spec.contentSecurityPolicy.join('; '), ...spec.headers };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.svg', '.txt', '.webmanifest']);

/** The built webmail of this checkout: `webmail/dist` under the project root (found from here, source or dist/). */
export function defaultWebmailDir(): string {
  return join(projectRoot(), 'webmail', 'dist');
}

interface CachedFile {
  mtimeMs: number;
  body: Buffer;
  gzip: Buffer | null;
  etag: string;
}

/**
 * Serves the built single-page app for every path outside /api: files from `root`
 * with their content types, hashed assets cached for a year, index.html (never cached)
 * for any other path so deep links work. Files are read once and kept (the build is
 * small), re-read when their mtime changes.
 */
export function createStaticSite(root: string, securityHeaders: Record<string, string> = webmailSecurityHeaders()): (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<void> {
  const base = resolve(root);
  const cache = new Map<string, CachedFile>();

  async function load(file: string): Promise<CachedFile | null> {
    let info;
    try {
      info = await stat(file);
    } catch {
      return null;
    }
    if (!info.isFile()) return null;
    const hit = cache.get(file);
    if (hit && hit.mtimeMs === info.mtimeMs) return hit;
    const body = await readFile(file);
    const entry: CachedFile = {
      mtimeMs: info.mtimeMs,
      body,
      gzip: COMPRESSIBLE.has(extname(file)) && body.length > 1024 ? gzipSync(body) : null,
      etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 20)}"`,
    };
    cache.set(file, entry);
    return entry;
  }

  function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
    res.writeHead(status, { ...securityHeaders, ...headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  return async (req, res, pathname) => {
    const method = (req.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('connection', 'close'); // the body is never read
      return send(req, res, 405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' }, 'Method not allowed\n');
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return send(req, res, 400, { 'content-type': 'text/plain; charset=utf-8' }, 'Malformed path\n');
    }
    // only files inside the build folder; "..", NUL and backslashes never reach the file system
    const candidate = resolve(base, '.' + decoded);
    const inside = !decoded.includes('\0') && !decoded.includes('\\') && (candidate === base || candidate.startsWith(base + sep));
    const isAsset = decoded.startsWith('/assets/');
    let file = inside && candidate !== base ? await load(candidate) : null;
    let name = candidate;
    if (!file) {
      // a missing hashed asset is a 404 (an HTML answer would only confuse the browser); any other path is the app
      if (isAsset || !inside) return send(req, res, 404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, 'Not found\n');
      name = join(base, 'index.html');
      file = await load(name);
      if (!file) {
        return send(req, res, 503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, 'The webmail is not built. Run `npm run build` (or `npm start`, which builds it), then reload.\n');
      }
    }
    const headers: Record<string, string> = {
      'content-type': TYPES[extname(name)] ?? 'application/octet-stream',
      // Vite names assets by content hash: they never change under the same name
      'cache-control': isAsset ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag: file.etag,
    };
    if (file.gzip) headers.vary = 'accept-encoding';
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, { ...securityHeaders, ...headers });
      return void res.end();
    }
    if (file.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      return send(req, res, 200, { ...headers, 'content-encoding': 'gzip' }, file.gzip);
    }
    send(req, res, 200, headers, file.body);
  };
}
