import { createRoot } from 'react-dom/client';
import { useResolver } from '../../shared/useResolver';

type Settings = { policy: { version: number; rules: unknown[] } | null; canEdit: boolean };

/** Placeholder settings page: shows the saved policy read-only. The editor comes with the UI work. */
function SettingsPage() {
  const state = useResolver<Settings>('getSettings');
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
