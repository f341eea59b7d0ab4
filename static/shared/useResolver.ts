import { invoke } from '@forge/bridge';
import { useEffect, useState } from 'react';

/** What every Countersign resolver returns (see src/handlers/result.ts). */
export type Result<T> = { ok: true; data: T } | { ok: false; code: string; message: string };

export type Loadable<T> = { loading: true } | Result<T>;

/** Calls a resolver once on mount; a failed bridge call becomes an error Result, never a throw. */
export function useResolver<T>(name: string): Loadable<T> {
  const [state, setState] = useState<Loadable<T>>({ loading: true });
  useEffect(() => {
    invoke<Result<T>>(name).then(
      (result) => setState(result as Result<T>),
      (error: Error) => setState({ ok: false, code: 'INTERNAL', message: error.message }),
    );
  }, [name]);
  return state;
}
