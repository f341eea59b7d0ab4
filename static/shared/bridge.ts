import { invoke } from '@forge/bridge';
import { useCallback, useEffect, useState } from 'react';
import type { Answer, FunctionName, Payload } from '../../src/contract';

/** What every Countersign resolver returns (see src/handlers/result.ts); UNREACHABLE when the bridge itself failed. */
export type Result<T> = { ok: true; data: T } | { ok: false; code: string; message: string };

export type Loadable<T> = { loading: true } | Result<T>;

/** A function's payload as arguments: none for functions that take none. */
type PayloadArgs<K extends FunctionName> = Payload<K> extends void ? [] : [Payload<K>];

/** Calls a resolver by its name in the contract; a failed bridge call becomes an error Result, never a throw. */
export async function call<K extends FunctionName>(name: K, ...payload: PayloadArgs<K>): Promise<Result<Answer<K>>> {
  try {
    return (await invoke<Result<Answer<K>>>(name, payload[0] as Record<string, unknown> | undefined)) as Result<Answer<K>>;
  } catch (error) {
    return { ok: false, code: 'UNREACHABLE', message: `Countersign could not reach its backend (${(error as Error).message}); check your connection and retry.` };
  }
}

/** Calls a payload-less resolver on mount and again on `reload()`; `setData` replaces the data after a local change. */
export function useResolver<K extends FunctionName, T = Answer<K>>(name: K & (Payload<K> extends void ? K : never)) {
  const [state, setState] = useState<Loadable<T>>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    (call as (n: K) => Promise<Result<T>>)(name).then((result) => current && setState(result));
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
