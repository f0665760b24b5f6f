import DOMPurify from 'dompurify';

/**
 * HTML mail, made safe to show. DOMPurify removes scripts, event handlers and
 * dangerous URLs; on top of that, this removes everything interactive (forms,
 * frames, plugins, <meta>/<base>/<link>), and every reference to a resource outside
 * the message (images, CSS url(), @import, srcset, SVG hrefs) unless the user
 * allowed remote content for this message. cid: references become the message's own
 * attachments. Links open in a new tab without opener or referrer.
 *
 * The result is shown in a sandboxed iframe (no scripts, forms, or top navigation)
 * under a Content-Security-Policy of its own that forbids remote loads again, so a
 * trick that got past this function still fetches nothing.
 */
export interface SanitizeOptions {
  allowRemote: boolean;
  /** The blob: URL of the attachment with this Content-ID, or null. */
  cid(contentId: string): string | null;
}

export interface Sanitized {
  html: string;
  /** Remote references removed (0 when allowed or when there were none). */
  blocked: number;
}

const purify = DOMPurify(window);
const FORBID_TAGS = ['form', 'input', 'button', 'select', 'textarea', 'option', 'optgroup', 'datalist', 'output', 'meta', 'link', 'base', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'script', 'noscript', 'audio', 'video', 'source', 'track', 'portal', 'dialog', 'template', 'slot'];
const FORBID_ATTR = ['action', 'formaction', 'srcdoc', 'ping', 'autofocus', 'contenteditable', 'tabindex', 'accesskey', 'http-equiv'];
/** Attributes that make the browser fetch something. */
const RESOURCE_ATTRS = ['src', 'srcset', 'background', 'poster', 'lowsrc', 'dynsrc', 'href', 'xlink:href'];
const REMOTE = /^(?:https?:)?\/\//i;
/** References to other resources in CSS; counted before and after decoding escapes. */
const CSS_REFERENCE = /url\s*\(\s*['"]?\s*(?:https?:)?\/\/|@import|image-set\s*\(/gi;
const countReferences = (css: string) => css.match(CSS_REFERENCE)?.length ?? 0;

let current: SanitizeOptions = { allowRemote: false, cid: () => null };
let blocked = 0;

/** CSS with its escapes decoded: `\75 rl(` is `url(` to a browser. */
function unescapeCss(css: string): string {
  return css.replace(/\\([0-9a-f]{1,6})\s?|\\(.)/gi, (_, hex: string | undefined, ch: string | undefined) => (hex ? String.fromCodePoint(Math.min(parseInt(hex, 16), 0x10ffff) || 0xfffd) : (ch ?? '')));
}

function cleanUrl(raw: string): string {
  return raw.trim().replace(/^['"]/, '').replace(/['"]$/, '').trim();
}

function rewriteCss(css: string): string {
  let out = css.replace(/\/\*[\s\S]*?\*\//g, '');
  // escapes that hide a reference (`\75 rl(` is `url(` to a browser): drop the whole style rather than guess
  if (!current.allowRemote && countReferences(unescapeCss(out)) > countReferences(out)) {
    blocked++;
    return '';
  }
  out = out.replace(/@import\s+[^;]*;?/gi, (rule) => {
    if (current.allowRemote && /(?:url\(\s*)?['"]?\s*https?:\/\//i.test(rule)) return rule;
    blocked++;
    return '';
  });
  out = out.replace(/url\(\s*([^)]*?)\s*\)/gi, (whole, inner: string) => {
    const url = cleanUrl(inner);
    if (/^data:image\//i.test(url)) return whole;
    if (/^cid:/i.test(url)) {
      const local = current.cid(url.slice(4));
      return local ? `url("${local}")` : 'none';
    }
    if (current.allowRemote && REMOTE.test(url)) return whole;
    if (REMOTE.test(url)) blocked++;
    return 'none';
  });
  out = out.replace(/(?:-webkit-)?image-set\(([^()]*(?:\([^()]*\)[^()]*)*)\)/gi, (whole, inner: string) => {
    if (current.allowRemote || !/["']\s*(?:https?:)?\/\//i.test(inner)) return whole;
    blocked++;
    return 'none';
  });
  return out;
}

purify.addHook('uponSanitizeElement', (node, data) => {
  if (data.tagName === 'style' && node.textContent) node.textContent = rewriteCss(node.textContent);
});

purify.addHook('afterSanitizeAttributes', (node) => {
  const el = node as Element;
  if (!el.getAttribute) return;
  const style = el.getAttribute('style');
  if (style) {
    const rewritten = rewriteCss(style);
    if (rewritten.trim()) el.setAttribute('style', rewritten);
    else el.removeAttribute('style');
  }
  const tag = el.tagName.toLowerCase();
  if (tag === 'a' || tag === 'area') {
    const href = (el.getAttribute('href') ?? el.getAttribute('xlink:href') ?? '').trim();
    el.removeAttribute('xlink:href');
    if (/^(?:https?:|mailto:)/i.test(href)) {
      el.setAttribute('href', href);
      el.setAttribute('target', '_blank');
      el.setAttribute('rel', 'noopener noreferrer');
    } else if (href.startsWith('#')) {
      el.removeAttribute('target');
    } else {
      el.removeAttribute('href');
      el.removeAttribute('target');
    }
    return;
  }
  for (const attr of RESOURCE_ATTRS) {
    const value = el.getAttribute(attr);
    if (value === null) continue;
    const url = value.trim();
    if (attr === 'srcset') {
      const remote = url.split(',').some((c) => REMOTE.test(c.trim()));
      if (remote && current.allowRemote) continue;
      if (remote) blocked++;
      el.removeAttribute(attr);
      continue;
    }
    if (/^cid:/i.test(url)) {
      const local = current.cid(url.slice(4));
      if (local) el.setAttribute(attr, local);
      else el.removeAttribute(attr);
    } else if (/^data:image\//i.test(url) && tag === 'img') {
      // an inline image: nothing is fetched
    } else if (REMOTE.test(url)) {
      if (current.allowRemote) continue;
      blocked++;
      el.removeAttribute(attr);
      if (tag === 'img') el.setAttribute('data-remote-blocked', '');
    } else {
      // relative or other schemes mean nothing inside a message (and would hit this server)
      el.removeAttribute(attr);
    }
  }
  if (el.hasAttribute('target')) el.removeAttribute('target');
});

/**
 * Parsing the mail (DOMPurify must) happens in this page, under its CSP: Chromium then
 * reports, and blocks, every inline handler and <base> it meets while parsing. Nothing
 * runs either way; renaming them first keeps the console free of those reports, so a
 * real error stands out. This is not the sanitizer: DOMPurify still sees every byte.
 */
function defuse(html: string): string {
  let out = html.replace(/<base\b/gi, '<x-base');
  for (let before = ''; before !== out; ) {
    before = out;
    out = out.replace(/(<[a-z][^>]*?[\s/"'])on([a-z]+\s*=)/gi, '$1data-x-on$2');
  }
  return out;
}

export function sanitizeMailHtml(html: string, opts: SanitizeOptions): Sanitized {
  current = opts;
  blocked = 0;
  try {
    const out = purify.sanitize(defuse(html), { FORBID_TAGS, FORBID_ATTR, FORCE_BODY: true, ALLOW_DATA_ATTR: false }) as string;
    return { html: out, blocked };
  } finally {
    current = { allowRemote: false, cid: () => null };
  }
}

/** The policy inside the mail's frame: nothing from outside unless allowed; never scripts, forms, or plugins. */
export function frameCsp(allowRemote: boolean): string {
  const remote = allowRemote ? ' http: https:' : '';
  return `default-src 'none'; img-src data: blob:${remote}; style-src 'unsafe-inline'${remote}; font-src data:${remote}; form-action 'none'; base-uri 'none'`;
}

const FRAME_STYLE = `html{color-scheme:light}body{margin:0;padding:4px 2px;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;overflow-wrap:anywhere;background:#fff}img{max-width:100%;height:auto}img[data-remote-blocked]{display:inline-block;min-width:24px;min-height:24px;background:#eef1f4;outline:1px dashed #a9b3bd}table{max-width:100%}pre{white-space:pre-wrap}a{color:#0b57d0}a:not([href]){color:inherit}blockquote{margin:0 0 0 .5em;padding-left:.75em;border-left:3px solid #d0d7de;color:#57606a}`;

/** The iframe's whole document. */
export function frameDocument(sanitized: string, allowRemote: boolean): string {
  const csp = frameCsp(allowRemote).replace(/"/g, '&quot;');
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><meta name="referrer" content="no-referrer"><style>${FRAME_STYLE}</style></head><body>${sanitized}</body></html>`;
}
