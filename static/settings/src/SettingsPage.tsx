import { useResolver } from '../../shared/bridge';
import { ErrorBanner, formatTime, Loading } from '../../shared/ui';
import type { SettingsState } from '../../../src/handlers/settings';
import { KeyList } from './KeyList';
import { PolicyEditor } from './PolicyEditor';
import { PolicyView } from './PolicyView';
import { ServicesProvider, useNames } from './services';

/** Repository settings → Countersign: the policy (editable by admins) and the enrolled keys. */
export function SettingsPage() {
  const { state, reload, setData } = useResolver('getSettings');
  if ('loading' in state) return <Loading what="Countersign settings" />;
  if (!state.ok) return <ErrorBanner message={state.message} code={state.code} onRetry={reload} />;
  const settings = state.data;
  return (
    <ServicesProvider workspace={settings.workspace} repository={settings.repository}>
      <main className="stack settings" aria-labelledby="settings-title">
        <h1 id="settings-title">Countersign</h1>
        <p className="subtle">
          Merges into matching branches, and deployments to gated environments, need signed approvals from the groups below, made with keys held on each approver's device and checked
          again before anything merges or deploys.
        </p>
        <PolicyVersion settings={settings} />
        {settings.canEdit ? <PolicyEditor settings={settings} onSaved={(policy) => setData({ ...settings, policy })} onReload={reload} /> : <PolicyView settings={settings} />}
        <KeyList settings={settings} onChanged={(keys) => setData({ ...settings, keys })} />
      </main>
    </ServicesProvider>
  );
}

function PolicyVersion({ settings }: { settings: SettingsState }) {
  const { label } = useNames(settings.policy ? [settings.policy.savedBy] : []);
  return (
    <p data-testid="policy-version">
      {settings.policy ? (
        <>
          Policy version <strong>{settings.policy.version}</strong>, saved {formatTime(settings.policy.savedAt)} by {label(settings.policy.savedBy)}.
        </>
      ) : (
        'No policy saved yet: Countersign gates no branch in this repository.'
      )}
    </p>
  );
}
