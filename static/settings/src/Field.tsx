import { useId, type ReactElement } from 'react';
import { cloneElement } from 'react';

/** A labelled input with its inline validation error (or, if none, a warning), announced to screen readers. */
export function Field({ label, error, warning, children }: { label: string; error?: string; warning?: string; children: ReactElement<Record<string, unknown>> }) {
  const id = useId();
  const errorId = `${id}-error`;
  const warningId = `${id}-warning`;
  const describedBy = error ? errorId : warning ? warningId : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {cloneElement(children, { id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy })}
      {error && (
        <p id={errorId} className="field-error">
          {error}
        </p>
      )}
      {!error && warning && (
        <p id={warningId} className="field-warning" role="status" data-testid="field-warning">
          {warning}
        </p>
      )}
    </div>
  );
}
