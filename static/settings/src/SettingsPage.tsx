import { useEffect, useState } from 'react';
import { useResolver } from '../../shared/bridge';
import { ErrorBanner, formatTime, Loading } from '../../shared/ui';
import { KeyList } from './KeyList';
import { loadWorkspaceMembers, type Member } from './members';
import { PolicyEditor } from './PolicyEditor';
import { PolicyView } from './PolicyView';

/** Repository settings → Countersign: the policy (editable by admins) and the enrolled keys. */
export function SettingsPage() {
  const { state, reload, setData } = useResolver('getSettings');
  const [members, setMembers] = useState<Member[]>([]);
  const [membersError, setMembersError] = useState<string>();
  const workspace = 'ok' in state && state.ok ? state.data.workspace : undefined;

  useEffect(() => {
    if (!workspace) return;
    loadWorkspaceMembers(workspace).then(setMembers, (e: Error) => setMembersError(`Could not list the workspace's members: ${e.message}`));
  }, [workspace]);

  if ('loading' in state) return <Loading what="Countersign settings" />;
  if (!state.ok) return <ErrorBanner message={state.message} code={state.code} onRetry={reload} />;
  const settings = state.data;
  const names = Object.fromEntries(members.map((m) => [m.accountId, m.name]));

  return (
    <main className="stack settings" aria-labelledby="settings-title">
      <h1 id="settings-title">Countersign</h1>
      <p className="subtle">
        Merges into matching branches need signed approvals from the groups below. Signatures are made with keys held on each approver's device and checked again when Bitbucket asks whether a
        pull request may merge.
      </p>
      <p data-testid="policy-version">
        {settings.policy ? (
          <>
            Policy version <strong>{settings.policy.version}</strong>, saved {formatTime(settings.policy.savedAt)} by {names[settings.policy.savedBy] ?? settings.policy.savedBy}.
          </>
        ) : (
          'No policy saved yet: Countersign gates no branch in this repository.'
        )}
      </p>
      {membersError && <ErrorBanner message={membersError} />}
      {settings.canEdit ? (
        <PolicyEditor settings={settings} members={members} names={names} onSaved={(policy) => setData({ ...settings, policy })} />
      ) : (
        <PolicyView settings={settings} names={names} />
      )}
      <KeyList settings={settings} names={names} onChanged={(keys) => setData({ ...settings, keys })} />
    </main>
  );
}
