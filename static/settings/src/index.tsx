import { invoke } from '@forge/bridge';
import { useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';

type Settings = { policy: { version: number; rules: unknown[] } | null; canEdit: boolean };
type Result<T> = { ok: true; data: T } | { ok: false; code: string; message: string };

/** Placeholder settings page: shows the saved policy read-only. The editor is the UI issue's. */
function SettingsPage() {
  const [state, setState] = useState<{ loading: true } | Result<Settings>>({ loading: true });
  useEffect(() => {
    invoke<Result<Settings>>('getSettings').then((result) => setState(result as Result<Settings>), (error: Error) =>
      setState({ ok: false, code: 'INTERNAL', message: error.message }),
    );
  }, []);
  if ('loading' in state) return <p>Loading Countersign…</p>;
  if (!state.ok) return <p role="alert">{state.message}</p>;
  const { policy } = state.data;
  if (!policy) return <p>No policy saved yet: Countersign does not gate any branch of this repository.</p>;
  return (
    <section>
      <h1>Countersign policy, version {policy.version}</h1>
      <pre>{JSON.stringify(policy.rules, null, 2)}</pre>
    </section>
  );
}

createRoot(document.getElementById('root')!).render(<SettingsPage />);
