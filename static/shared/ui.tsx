import { useEffect, useRef, type ReactNode } from 'react';
import { view } from '@forge/bridge';
import './styles.css';

/** Follows the host's light or dark theme: the host sets `data-color-mode` and the design tokens. */
export function enableHostTheme(): void {
  view.theme.enable().catch(() => undefined);
}

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" aria-live="polite" className="subtle">
      Loading {what}…
    </p>
  );
}

export function ErrorBanner({ message, code, onRetry }: { message: string; code?: string; onRetry?: () => void }) {
  return (
    <div role="alert" className="banner danger stack">
      <p>
        {message}
        {code && <span className="sr-only"> (error {code})</span>}
      </p>
      {onRetry && (
        <button type="button" className="btn" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

/** A modal confirmation, focus-trapped by the browser's own `<dialog>`. */
export function Confirm(props: { title: string; children: ReactNode; confirmLabel: string; danger?: boolean; busy?: boolean; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={(event) => (event.preventDefault(), props.onCancel())}>
      <div className="stack">
        <h2 id="confirm-title">{props.title}</h2>
        {props.children}
        <div className="row">
          <button type="button" className={`btn ${props.danger ? 'danger' : 'primary'}`} disabled={props.busy} onClick={props.onConfirm}>
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
          <button type="button" className="btn" onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </div>
    </dialog>
  );
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
