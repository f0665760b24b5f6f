import { createStore, useStore } from '../store';

export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
  action?: { label: string; run(): void };
}

const toasts = createStore<Toast[]>([]);
let next = 1;

/** A short message at the bottom of the screen (errors stay until dismissed). */
export function toast(text: string, opts: { kind?: Toast['kind']; action?: Toast['action'] } = {}): void {
  const t: Toast = { id: next++, text, kind: opts.kind ?? 'info', action: opts.action };
  toasts.set((all) => [...all.slice(-3), t]);
  if (t.kind === 'info') setTimeout(() => dismiss(t.id), 6000);
}

export const dismiss = (id: number) => toasts.set((all) => all.filter((t) => t.id !== id));

export function Toasts() {
  const all = useStore(toasts);
  return (
    <div className="toasts" role="status" aria-live="polite">
      {all.map((t) => (
        <div key={t.id} className={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : undefined}>
          <span>{t.text}</span>
          {t.action && (
            <button
              type="button"
              className="link-button"
              onClick={() => {
                t.action!.run();
                dismiss(t.id);
              }}
            >
              {t.action.label}
            </button>
          )}
          <button type="button" className="icon-button" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
