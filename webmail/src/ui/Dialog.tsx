import { useEffect, useRef, type ReactNode } from 'react';
import { FieldError } from './ErrorNotice';

/** A modal dialog on the native <dialog>: focus moves in, Esc closes, focus returns where it was. */
export function Dialog({ title, onClose, children, className }: { title: string; onClose(): void; children: ReactNode; className?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current!;
    const before = document.activeElement as HTMLElement | null;
    if (!dialog.open) dialog.showModal();
    return () => {
      if (dialog.open) dialog.close();
      before?.focus?.();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={`dialog ${className ?? ''}`}
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <div className="dialog-head">
        <h2 id="dialog-title">{title}</h2>
        <button type="button" className="icon-button" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </div>
      {children}
    </dialog>
  );
}

/** "Are you sure?": what will happen, the error of a try that failed, the dangerous action and Cancel. */
export function ConfirmDialog({ title, action, onConfirm, onClose, error, children }: { title: string; action: string; onConfirm(): void; onClose(): void; error?: string | null; children: ReactNode }) {
  return (
    <Dialog title={title} onClose={onClose}>
      {children}
      <FieldError error={error} />
      <div className="form-actions">
        <button type="button" className="danger" onClick={onConfirm}>
          {action}
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
