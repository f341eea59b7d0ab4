import { invoke } from '@forge/bridge';
import { useCallback, useEffect, useState } from 'react';

/** What every Countersign resolver returns (see src/handlers/result.ts). */
export type Result<T> = { ok: true; data: T } | { ok: false; code: string; message: string };

export type Loadable<T> = { loading: true } | Result<T>;

/** Calls a resolver; a failed bridge call becomes an error Result, never a throw. */
export async function call<T>(name: string, payload?: Record<string, unknown>): Promise<Result<T>> {
  try {
    return (await invoke<Result<T>>(name, payload)) as Result<T>;
  } catch (error) {
    return { ok: false, code: 'UNREACHABLE', message: `Countersign could not reach its backend (${(error as Error).message}); check your connection and retry.` };
  }
}

/** Calls a resolver on mount and again on `reload()`; `setData` replaces the data after a local change. */
export function useResolver<T>(name: string) {
  const [state, setState] = useState<Loadable<T>>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    call<T>(name).then((result) => current && setState(result));
    return () => {
      current = false;
    };
  }, [name, generation]);
  const reload = useCallback(() => {
    setState({ loading: true });
    setGeneration((g) => g + 1);
  }, []);
  const setData = useCallback((data: T) => setState({ ok: true, data }), []);
  return { state, reload, setData };
}
