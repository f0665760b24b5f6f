/** Small line icons (inline SVG: no icon font, no emoji font needed). Decorative: hidden from screen readers. */
const PATHS: Record<string, string> = {
  inbox: 'M4 13h4l2 3h4l2-3h4M4 13l2.5-7h11L20 13v6H4z',
  drafts: 'M4 20h4L19 9l-4-4L4 16zM13 7l4 4',
  sent: 'M3 11l18-8-7 18-3-7zM11 14l4-4',
  junk: 'M12 3l9 16H3zM12 10v4M12 17v.5',
  trash: 'M5 7h14M10 7V4h4v3M6 7l1 13h10l1-13',
  folder: 'M3 6h6l2 2h10v11H3z',
  clip: 'M16 7l-7 7a2 2 0 0 0 3 3l7-7a4 4 0 0 0-6-6l-7 7a6 6 0 0 0 8 8l6-6',
};

export function Icon({ name, className }: { name: keyof typeof PATHS | string; className?: string }) {
  return (
    <svg className={`icon ${className ?? ''}`} viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
      <path d={PATHS[name] ?? PATHS.folder} />
    </svg>
  );
}
