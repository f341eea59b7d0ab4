import { useEffect, useState } from 'react';
import { useResolver } from '../../shared/bridge';
import { loadDeviceKey, type DeviceKey } from '../../shared/deviceKeys';
import { ErrorBanner, Loading } from '../../shared/ui';
import { MyPart } from './MyPart';
import { Quorum } from './Quorum';
import { reviewerState, type CardPanel } from './reviewerState';

/** The PR card: one `getPanelState` call, then the quorum, the verdict in words, and what the viewer can do. */
export function Card() {
  const { state, reload, setData } = useResolver<'getPanelState', CardPanel>('getPanelState');
  const accountId = 'ok' in state && state.ok ? state.data.me.accountId : undefined;
  const [deviceKey, setDeviceKey] = useState<DeviceKey | undefined | 'loading'>('loading');
  const [keyError, setKeyError] = useState<string>();

  useEffect(() => {
    if (!accountId) return;
    loadDeviceKey(accountId).then(setDeviceKey, () => {
      setDeviceKey(undefined);
      setKeyError('This browser does not let Countersign keep a signing key (IndexedDB is unavailable, as in some private windows).');
    });
  }, [accountId]);

  if ('loading' in state || (state.ok && deviceKey === 'loading')) return <Loading what="Countersign" />;
  if (!state.ok) return <ErrorBanner message={state.message} code={state.code} onRetry={reload} />;
  const panel = state.data;
  const key = deviceKey === 'loading' ? undefined : deviceKey;

  return (
    <main className="stack" aria-label="Countersign">
      <Verdict panel={panel} />
      {panel.verdict.gated && <Quorum panel={panel} />}
      {panel.autoMerge?.state === 'failed' && (
        <p className="banner danger small" role="status" data-testid="automerge-failed">
          Auto-merge failed and will not be retried for this commit: {panel.autoMerge.reason}
        </p>
      )}
      {keyError && <ErrorBanner message={keyError} />}
      <MyPart
        panel={panel}
        state={reviewerState(panel, key)}
        onPanel={setData}
        onDeviceKey={setDeviceKey}
        onReload={reload}
      />
    </main>
  );
}

function Verdict({ panel }: { panel: CardPanel }) {
  const { verdict, pullRequest } = panel;
  const commit = <code title={pullRequest.headCommit}>{pullRequest.shortCommit}</code>;
  const rejected = verdict.rules.some((r) => r.rejectedBy.length > 0);
  const [tone, headline] = !verdict.gated
    ? (['info', <>Not gated: no Countersign rule covers <code>{pullRequest.targetBranch}</code>.</>] as const)
    : verdict.pass
      ? (['success', <>Quorum met on {commit}: ready to merge.</>] as const)
      : rejected
        ? (['danger', <>Blocked: rejected on {commit}.</>] as const)
        : (['warning', <>Waiting for signatures on {commit}.</>] as const);
  return (
    <section className={`banner ${tone}`} aria-live="polite" data-testid="verdict">
      <p>
        <strong>{headline}</strong>
      </p>
      {verdict.gated && <p className="small">{verdict.message.replace(/^Countersign: /, '')}</p>}
      {panel.policy && <p className="small subtle">Policy version {panel.policy.version}</p>}
    </section>
  );
}
