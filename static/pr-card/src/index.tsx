import { invoke } from '@forge/bridge';
import { useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

type Panel = { verdict: { message: string; pass: boolean } };
type Result<T> = { ok: true; data: T } | { ok: false; code: string; message: string };

/** Placeholder PR card: shows the verdict in words. The full card (enrol, sign) is the UI issue's. */
function Card() {
  const [state, setState] = useState<{ loading: true } | Result<Panel>>({ loading: true });
  useEffect(() => {
    invoke<Result<Panel>>('getPanelState').then((result) => setState(result as Result<Panel>), (error: Error) =>
      setState({ ok: false, code: 'INTERNAL', message: error.message }),
    );
  }, []);
  if ('loading' in state) return <p>Loading Countersign…</p>;
  if (!state.ok) return <p role="alert">{state.message}</p>;
  return <p>{state.data.verdict.message}</p>;
}

createRoot(document.getElementById('root')!).render(<Card />);
