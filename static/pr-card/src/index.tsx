import { createRoot } from 'react-dom/client';
import { useResolver } from '../../shared/useResolver';

type Panel = { verdict: { message: string; pass: boolean } };

/** Placeholder PR card: shows the verdict in words. The full card (enrol, sign) comes with the UI work. */
function Card() {
  const state = useResolver<Panel>('getPanelState');
  if ('loading' in state) return <p>Loading Countersign…</p>;
  if (!state.ok) return <p role="alert">{state.message}</p>;
  return <p>{state.data.verdict.message}</p>;
}

createRoot(document.getElementById('root')!).render(<Card />);
