import { requestBitbucket } from '@forge/bridge';
import { useEffect, useMemo, useState } from 'react';
import type { DeploymentsPage as Page, DeploymentView } from '../../../src/handlers/deployments';
import { useResolver } from '../../shared/bridge';
import { loadDeviceKey, type DeviceKey } from '../../shared/deviceKeys';
import { EnrolForm } from '../../shared/Enrol';
import { ErrorBanner, formatTime, Loading } from '../../shared/ui';
import { NameBook } from '../../settings/src/names';
import { PendingDeployment } from './PendingDeployment';
import { keyStateOf, type KeyState } from './keyState';

export type Namer = (accountId: string, known?: Readonly<Record<string, string>>) => string;

/** The repository's deployments waiting for signed approval, each with its quorum and the viewer's part, then the latest allowed. */
export function DeploymentsPage() {
  const { state, reload, setData } = useResolver<'getDeployments', Page>('getDeployments');
  const page = 'ok' in state && state.ok ? state.data : undefined;
  const [deviceKey, setDeviceKey] = useState<DeviceKey | undefined | 'loading'>('loading');
  const [storage, setStorage] = useState<'ok' | 'unavailable'>('ok');
  const accountId = page?.me.accountId;
  useEffect(() => {
    if (!accountId) return;
    loadDeviceKey(accountId).then(setDeviceKey, () => {
      setDeviceKey(undefined);
      setStorage('unavailable');
    });
  }, [accountId]);

  const names = useMemo(() => (page ? new NameBook((path) => requestBitbucket(path), page.workspace) : undefined), [page?.workspace]);
  const [, setNamesVersion] = useState(0);
  useEffect(() => names?.subscribe(() => setNamesVersion(names.version)), [names]);
  const people = page ? [...page.pending, ...page.recent].flatMap(peopleOf) : [];
  useEffect(() => names?.need(people), [names, people.join(' ')]);
  // A name the signer's own Bitbucket gave (kept with their decision) first, else one looked up as the viewer.
  const name: Namer = (id, known = {}) => known[id] ?? names?.label(id) ?? id;

  if ('loading' in state || (page && deviceKey === 'loading')) return <Loading what="deployments" />;
  if (!state.ok) {
    return (
      <main className="stack deployments" aria-labelledby="deployments-title">
        <h1 id="deployments-title">Countersign deployments</h1>
        <ErrorBanner message={state.message} code={state.code} onRetry={reload} />
      </main>
    );
  }
  const data = state.data;
  const keyState = keyStateOf(data.me, deviceKey === 'loading' ? undefined : deviceKey, storage);
  const mayAnySign = data.pending.some((v) => v.me.eligibility === 'eligible' && !v.verdict.pass);
  const replace = (view: DeploymentView) => setData({ ...data, pending: data.pending.map((v) => (v.id === view.id ? view : v)) });

  return (
    <main className="stack deployments" aria-labelledby="deployments-title">
      <h1 id="deployments-title">Countersign deployments</h1>
      <p className="subtle">Deployments Bitbucket Pipelines asked Countersign about. Each needs its environment’s quorum of signed approvals before the gate lets it run.</p>
      {mayAnySign && keyState.kind !== 'ready' && (
        <YourKey
          state={keyState}
          page={data}
          onEnrolled={(device, key) => {
            setDeviceKey(device);
            setData({ ...data, me: { ...data.me, keys: [...data.me.keys, { keyId: key.keyId, label: key.label, revoked: false }] } });
          }}
        />
      )}
      <section aria-labelledby="pending-title" className="stack">
        <h2 id="pending-title">Waiting for approval</h2>
        {data.pending.length === 0 ? (
          <p className="banner info" role="status" data-testid="no-pending">
            No deployment is waiting for approval.
          </p>
        ) : (
          <ul className="plain stack" aria-label="Deployments waiting for approval">
            {data.pending.map((view) => (
              <li key={view.id}>
                <PendingDeployment page={data} view={view} keyState={keyState} name={name} onView={replace} onPage={setData} />
              </li>
            ))}
          </ul>
        )}
        {data.truncated && <p className="small subtle">More deployments are waiting than are shown here: these are the newest; the audit page lists them all.</p>}
      </section>
      <Recent views={data.recent} name={name} />
    </main>
  );
}

function peopleOf(view: DeploymentView): string[] {
  return [
    ...view.excluded.map((e) => e.accountId),
    ...view.verdict.requirements.flatMap((r) => [...r.counted, ...r.notCounted.map((n) => n.accountId)]),
    ...view.verdict.rejectedBy,
  ].filter((id) => !(id in view.verdict.names));
}

/** Enrolment happens on this device once; the PR card offers the same. */
function YourKey({ state, page, onEnrolled }: { state: KeyState; page: Page; onEnrolled: Parameters<typeof EnrolForm>[0]['onEnrolled'] }) {
  if (state.kind === 'unavailable') {
    return (
      <p className="banner danger" role="alert" data-testid="key-unavailable">
        This browser does not let Countersign keep a signing key (IndexedDB is unavailable, as in some private windows), so you cannot sign here.
      </p>
    );
  }
  const form = <EnrolForm accountId={page.me.accountId} takenLabels={page.me.keys.map((k) => k.label)} onEnrolled={onEnrolled} />;
  return (
    <section aria-labelledby="key-title" className="stack card" data-testid={`key-${state.kind}`}>
      <h2 id="key-title">Your signing key</h2>
      {state.kind === 'no-key' && <p>You have no signing key on this device. Signing keys are the same ones the Countersign card on pull requests uses; enrol this device here or from any pull request’s card.</p>}
      {state.kind === 'key-missing' && (
        <p>
          Your account has {state.labels.length === 1 ? 'a signing key' : `${state.labels.length} signing keys`} ({state.labels.map((l) => `“${l}”`).join(', ')}), but this browser holds none of them. Enrol this
          device to sign here; revoke a key that is gone in Repository settings → Countersign.
        </p>
      )}
      {state.kind === 'key-revoked' && <p className="banner danger">The key on this device (“{state.label}”) was revoked, so it can no longer sign. Enrol a new key to sign again.</p>}
      {form}
    </section>
  );
}

function Recent({ views, name }: { views: DeploymentView[]; name: Namer }) {
  return (
    <section aria-labelledby="recent-title" className="stack">
      <h2 id="recent-title">Recently allowed</h2>
      {views.length === 0 ? (
        <p className="subtle">No deployment has been allowed yet.</p>
      ) : (
        <table className="recent" aria-labelledby="recent-title">
          <thead>
            <tr>
              <th scope="col">Environment</th>
              <th scope="col">Commit</th>
              <th scope="col">Ref</th>
              <th scope="col">Pipeline</th>
              <th scope="col">Allowed</th>
              <th scope="col">Approved by</th>
            </tr>
          </thead>
          <tbody>
            {views.map((v) => (
              <tr key={v.id} data-testid="recent-deployment">
                <td>{v.environment.name}</td>
                <td>
                  <code title={v.commit}>{v.shortCommit}</code>
                </td>
                <td>{v.ref ? `${v.ref.type} ${v.ref.name}` : '—'}</td>
                <td>{v.buildNumber !== null ? `#${v.buildNumber}` : '—'}</td>
                <td>{v.allowedAt ? formatTime(v.allowedAt) : '—'}</td>
                <td>{v.verdict.approvedBy.map((id) => name(id, v.verdict.names)).join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
