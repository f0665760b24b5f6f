import { Fragment, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { fetchBlob, api } from '../api/client';
import type { MessageView } from '../api/types';
import { frameDocument, sanitizeMailHtml } from './sanitize';

/** Plain text keeps its line breaks; web and mail addresses become links; quoted lines are set apart. */
export function PlainBody({ text }: { text: string }) {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  return (
    <div className="plain-body">
      {lines.map((line, i) => (
        <div key={i} className={/^\s*>/.test(line) ? 'quoted' : undefined}>
          {line ? linkify(line) : '\u00a0'}
        </div>
      ))}
    </div>
  );
}

const LINK = /\b(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]|[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,})/gi;

function linkify(line: string): ReactNode {
  const out: ReactNode[] = [];
  let last = 0;
  for (const m of line.matchAll(LINK)) {
    const start = m.index ?? 0;
    out.push(line.slice(last, start));
    const value = m[0];
    const href = value.includes('://') ? value : `mailto:${value}`;
    out.push(
      <a key={start} href={href} target="_blank" rel="noopener noreferrer">
        {value}
      </a>,
    );
    last = start + value.length;
  }
  out.push(line.slice(last));
  return <Fragment>{out}</Fragment>;
}

/**
 * HTML mail in a sandboxed frame: no scripts (no allow-scripts), no forms, no top
 * navigation; links may open new tabs (allow-popups). allow-same-origin lets this
 * page size the frame to its content; with scripts disabled nothing inside can use it.
 */
export function HtmlBody({ message, allowRemote, onBlocked, onMailto }: { message: MessageView; allowRemote: boolean; onBlocked(count: number): void; onMailto(address: string): void }) {
  const frame = useRef<HTMLIFrameElement>(null);
  const cids = useInlineImages(message);
  const result = useMemo(() => {
    if (cids === null) return null;
    return sanitizeMailHtml(message.html ?? '', { allowRemote, cid: (id) => cids.get(id.replace(/^<|>$/g, '')) ?? null });
  }, [message.html, allowRemote, cids]);

  useEffect(() => {
    if (result) onBlocked(result.blocked);
  }, [result, onBlocked]);

  useEffect(() => {
    const iframe = frame.current;
    if (!iframe || !result) return;
    let observer: ResizeObserver | null = null;
    const fit = () => {
      const doc = iframe.contentDocument;
      if (doc?.documentElement) iframe.style.height = `${Math.max(doc.documentElement.scrollHeight, 40)}px`;
    };
    const onLoad = () => {
      fit();
      const doc = iframe.contentDocument;
      if (!doc) return;
      doc.addEventListener('click', (e) => {
        const a = (e.target as Element | null)?.closest?.('a');
        const href = a?.getAttribute('href') ?? '';
        if (href.toLowerCase().startsWith('mailto:')) {
          e.preventDefault();
          onMailto(decodeURIComponent(href.slice(7).split('?')[0]));
        }
      });
      observer = new ResizeObserver(fit);
      observer.observe(doc.documentElement);
    };
    iframe.addEventListener('load', onLoad);
    return () => {
      iframe.removeEventListener('load', onLoad);
      observer?.disconnect();
    };
  }, [result, onMailto]);

  if (!result) return <p className="muted">Loading message…</p>;
  return (
    <iframe
      ref={frame}
      className="html-body"
      title={`Message: ${message.subject || '(no subject)'}`}
      sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"
      referrerPolicy="no-referrer"
      srcDoc={frameDocument(result.html, allowRemote)}
    />
  );
}

/** Inline images (cid:) fetched with the session's token and shown from blob: URLs. Null while loading. */
function useInlineImages(message: MessageView): Map<string, string> | null {
  const [map, setMap] = useState<Map<string, string> | null>(null);
  useEffect(() => {
    const inline = message.attachments.filter((a) => a.contentId && a.contentType.startsWith('image/') && message.html?.includes('cid:'));
    if (!inline.length) {
      setMap(new Map());
      return;
    }
    let cancelled = false;
    const urls: string[] = [];
    setMap(null);
    void Promise.all(
      inline.map(async (a) => {
        try {
          const url = URL.createObjectURL(await fetchBlob(api.attachmentUrl(message.id, a.id)));
          urls.push(url);
          return [a.contentId!.replace(/^<|>$/g, ''), url] as const;
        } catch {
          return null;
        }
      }),
    ).then((pairs) => {
      if (!cancelled) setMap(new Map(pairs.filter((p): p is readonly [string, string] => p !== null)));
    });
    return () => {
      cancelled = true;
      urls.forEach((u) => URL.revokeObjectURL(u));
    };
  }, [message]);
  return map;
}
