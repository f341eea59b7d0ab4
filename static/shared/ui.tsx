import { useId, useLayoutEffect, useRef, type ReactNode } from 'react';
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

/**
 * A confirmation shown in place, next to what asked for it: app frames grow with their content, so
 * a modal centred in a tall frame can open out of sight. Focus moves to it; Escape cancels.
 */
export function Confirm(props: { title: string; children: ReactNode; confirmLabel: string; danger?: boolean; busy?: boolean; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  // Before the browser paints, so a key pressed right after opening already lands in the dialog.
  useLayoutEffect(() => {
    ref.current?.scrollIntoView({ block: 'nearest' });
    ref.current?.focus();
  }, []);
  return (
    <div
      ref={ref}
      role="dialog"
      aria-labelledby={titleId}
      tabIndex={-1}
      className="confirm stack"
      onKeyDown={(event) => event.key === 'Escape' && props.onCancel()}
    >
      <h2 id={titleId}>{props.title}</h2>
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
  );
}

export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
