import { useEffect, useState } from 'react';
import { useResolver } from '../../shared/bridge';
import { loadDeviceKey, type DeviceKey } from '../../shared/deviceKeys';
import { ErrorBanner, Loading } from '../../shared/ui';
import { MyPart } from './MyPart';
import { Quorum } from './Quorum';
import { headline, reviewerState, type CardPanel } from './reviewerState';

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
      {panel.autoMerge?.state === 'merged' && panel.pullRequest.state === 'MERGED' && (
        <p className="banner success small" role="status" data-testid="automerge-merged">
          Countersign merged this pull request ({panel.autoMerge.strategy.replace(/_/g, ' ')}) once the quorum was met.
        </p>
      )}
      {panel.autoMerge?.state === 'failed' && (
        <p className="banner danger small" role="status" data-testid="automerge-failed">
          Auto-merge failed and will not be retried for this commit: {panel.autoMerge.reason}
        </p>
      )}
      {keyError && <ErrorBanner message={keyError} />}
      <MyPart
        panel={panel}
        state={reviewerState(panel, key, keyError ? 'unavailable' : 'ok')}
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
  const branch = <code>{pullRequest.targetBranch}</code>;
  const head = headline(panel);
  const text =
    head.kind === 'merged' ? (
      <>Merged into {branch}{head.quorumMet ? <>, with the quorum met on {commit}</> : null}.</>
    ) : head.kind === 'closed' ? (
      <>This pull request was {head.state === 'DECLINED' ? 'declined' : 'superseded'}; it will not be merged.</>
    ) : head.kind === 'not-gated' ? (
      <>Not gated: no Countersign rule covers {branch}.</>
    ) : head.kind === 'quorum-met' ? (
      <>Quorum met on {commit}: ready to merge.</>
    ) : head.kind === 'rejected' ? (
      <>Blocked: rejected on {commit}.</>
    ) : (
      <>Waiting for signatures on {commit}.</>
    );
  return (
    <section className={`banner ${head.tone}`} aria-live="polite" data-testid="verdict">
      <p>
        <strong>{text}</strong>
      </p>
      {verdict.notes.map((note) => (
        <p key={note} className="small">
          {note}
        </p>
      ))}
      {panel.policy && <p className="small subtle">Policy version {panel.policy.version}</p>}
    </section>
  );
}
