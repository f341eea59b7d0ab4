import { useEffect, useRef, useState } from 'react';
import type { Decision } from '../../../src/core/statement';
import { signedCount } from '../../../src/core/names';
import type { DeploymentEligibility } from '../../../src/core/deploymentAssessment';
import type { DeploymentFinding } from '../../../src/core/deploymentGate';
import type { DeploymentsPage as Page, DeploymentView } from '../../../src/handlers/deployments';
import { call } from '../../shared/bridge';
import { signDeploymentDecision } from '../../shared/signing';
import { Confirm, ErrorBanner, formatTime } from '../../shared/ui';
import type { Namer } from './DeploymentsPage';
import type { KeyState } from './keyState';

const WHY_EXCLUDED: Record<DeploymentView['excluded'][number]['reason'], string> = {
  'commit-author': 'authored the commit',
  merger: 'merged its pull request',
  'pipeline-starter': 'started the pipeline',
};

const WHY_NOT_COUNTED: Record<DeploymentFinding, string> = {
  ...WHY_EXCLUDED,
  'revoked-key': 'key revoked',
  'other-deployment': 'signed another deployment',
};

const CANNOT_SIGN: Record<Exclude<DeploymentEligibility, 'eligible'>, string> = {
  'not-gated': 'No Countersign policy covers this environment, so there is nothing to sign.',
  'not-eligible': 'You are not in an approver group for this environment, so there is nothing for you to sign.',
  'commit-author': 'You authored this commit, and this environment does not count its author’s approval.',
  merger: 'You merged the pull request that brought this commit, and this environment does not count the merger’s approval.',
  'pipeline-starter': 'You started this pipeline, and this environment does not count the approval of whoever started it.',
};

interface Props {
  page: Page;
  view: DeploymentView;
  keyState: KeyState;
  name: Namer;
  onView: (view: DeploymentView) => void;
  onPage: (page: Page) => void;
}

/** One waiting deployment: what it is, its quorum in words, what is missing, who does not count and why, and the viewer's part. */
export function PendingDeployment({ page, view, keyState, name, onView, onPage }: Props) {
  const { verdict } = view;
  const who = (id: string) => name(id, verdict.names);
  const titleId = `deployment-${view.id}`;
  const rejected = verdict.rejectedBy.length > 0;
  return (
    <article className="card stack deployment" aria-labelledby={titleId} data-testid="pending-deployment" data-environment={view.environment.name} data-commit={view.commit}>
      <header>
        <h3 id={titleId}>
          {view.environment.name} <code title={view.commit}>{view.shortCommit}</code>
        </h3>
        <span className={`lozenge ${verdict.pass ? 'success' : rejected ? 'danger' : 'warning'}`} data-testid="deployment-state">
          {verdict.pass ? 'Approved' : rejected ? 'Rejected' : 'Waiting'}
        </span>
      </header>
      <dl className="facts small">
        <dt>Commit</dt>
        <dd>
          <code>{view.commit}</code>
        </dd>
        <dt>Ref</dt>
        <dd>{view.ref ? `${view.ref.type} ${view.ref.name}` : 'none (a bare commit)'}</dd>
        <dt>Pipeline</dt>
        <dd>{view.buildNumber !== null ? `#${view.buildNumber}` : 'unnumbered'}</dd>
        <dt>Requested</dt>
        <dd>{formatTime(view.requestedAt)}</dd>
      </dl>
      {verdict.pass ? (
        <p className="banner success" role="status" data-testid="deployment-verdict">
          Approved: the gate lets this commit deploy to {view.environment.name}.
        </p>
      ) : (
        <div className="banner warning" data-testid="deployment-verdict">
          <p>
            <strong>What is missing</strong>
          </p>
          <ul className="small">
            {verdict.missing.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        </div>
      )}
      <ul className="plain stack" aria-label="Requirements">
        {verdict.requirements.map((r) => {
          const count = signedCount(r.counted.length, r.required);
          const signers = r.counted.length ? ` (${r.counted.map(who).join(', ')})` : '';
          return (
            <li key={r.group} data-testid={`group-${r.group}`}>
              <div className="row" style={{ justifyContent: 'space-between' }}>
                <span>
                  <strong>{r.group}</strong> {count}
                  {signers}
                </span>
                <span className={`lozenge ${r.met ? 'success' : ''}`}>{`${r.counted.length} of ${r.required}`}</span>
              </div>
              <div className="progress" role="progressbar" aria-label={`${r.group}: ${count}`} aria-valuemin={0} aria-valuemax={r.required} aria-valuenow={Math.min(r.counted.length, r.required)} aria-valuetext={count}>
                <span style={{ width: `${Math.min(100, (100 * r.counted.length) / r.required)}%` }} />
              </div>
              {r.notCounted.length > 0 && (
                <ul className="plain small subtle">
                  {r.notCounted.map((n) => (
                    <li key={n.accountId}>
                      <span aria-hidden="true">○ </span>
                      {who(n.accountId)} — signed, not counted: {WHY_NOT_COUNTED[n.reason]}
                    </li>
                  ))}
                </ul>
              )}
            </li>
          );
        })}
      </ul>
      {view.excluded.length > 0 && (
        <p className="small subtle" data-testid="excluded">
          Not counted for this deployment: {view.excluded.map((e) => `${who(e.accountId)} (${WHY_EXCLUDED[e.reason]})`).join(', ')}.
        </p>
      )}
      <MyPart page={page} view={view} keyState={keyState} onView={onView} onPage={onPage} />
    </article>
  );
}

function MyPart({ page, view, keyState, onView, onPage }: Omit<Props, 'name'>) {
  const [confirming, setConfirming] = useState<Decision>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ code: string; message: string }>();
  const buttons = useRef<Partial<Record<Decision, HTMLButtonElement | null>>>({});
  const returnFocus = useRef<Decision | undefined>(undefined);
  useEffect(() => {
    if (confirming || !returnFocus.current) return;
    buttons.current[returnFocus.current]?.focus();
    returnFocus.current = undefined;
  }, [confirming]);

  const { eligibility, decision } = view.me;
  const mine = decision && (
    <p data-testid="my-decision" className={decision.problem ? 'banner danger small' : ''}>
      {decision.problem ? 'Your signature no longer counts: its key was revoked.' : <><span aria-hidden="true">✓ </span>You signed {decision.decision === 'approve' ? 'an approval' : 'a rejection'} on {formatTime(decision.issuedAt)}.</>}
    </p>
  );
  if (eligibility !== 'eligible') {
    return (
      <p className="small" data-testid="cannot-sign">
        {CANNOT_SIGN[eligibility]}
      </p>
    );
  }
  if (keyState.kind !== 'ready') {
    return (
      <>
        {mine}
        <p className="small subtle" data-testid="needs-key">
          Enrol a signing key on this device (above) to sign this deployment.
        </p>
      </>
    );
  }

  async function submit(choice: Decision) {
    if (keyState.kind !== 'ready') return;
    setBusy(true);
    setError(undefined);
    try {
      // A challenge is single use; after a signature (or once expired) a fresh one comes with a fresh page.
      let current = view;
      let currentPage = page;
      if (!current.me.challenge || Date.parse(current.me.challenge.expiresAt) <= Date.now() + 5_000) {
        const fresh = await call('getDeployments');
        if (!fresh.ok) return fail(fresh);
        currentPage = fresh.data;
        onPage(fresh.data);
        const found = fresh.data.pending.find((v) => v.id === view.id);
        if (!found) return fail({ code: 'NOT_PENDING', message: 'This deployment is no longer waiting for approval.' });
        current = found;
      }
      // Never sign anything other than what the confirmation showed.
      if (!current.me.challenge || !currentPage.policy || currentPage.policy.hash !== page.policy?.hash) {
        return fail({ code: 'STALE', message: 'The policy changed while you were reading; check what is shown now and sign again.' });
      }
      const signed = await signDeploymentDecision(
        keyState.key,
        {
          workspace: currentPage.workspace,
          repository: currentPage.repository,
          environment: current.environment.uuid,
          commit: current.commit,
          policy: currentPage.policy.hash,
          signer: currentPage.me.accountId,
          challenge: current.me.challenge.value,
        },
        choice,
        new Date(),
      );
      const result = await call('submitDeploymentDecision', { envelope: signed.envelope, deployment: { environment: current.environment.uuid, commit: current.commit } });
      if (!result.ok) return fail(result);
      setBusy(false);
      setConfirming(undefined);
      onView({ ...current, verdict: result.data.verdict, me: { ...current.me, decision: { decision: choice, issuedAt: signed.statement.predicate.issuedAt, problem: null }, challenge: null } });
    } catch (e) {
      fail({ code: 'DEVICE', message: `This browser could not sign with the key on this device: ${(e as Error).message}` });
    }
  }

  function fail(e: { code: string; message: string }) {
    setBusy(false);
    setConfirming(undefined);
    setError(e);
  }

  const verb = (d: Decision) => (d === 'approve' ? 'approval' : 'rejection');
  return (
    <div className="stack">
      {mine}
      {!confirming && (
        <div className="row">
          <button type="button" className="btn primary" ref={(b) => void (buttons.current.approve = b)} onClick={() => setConfirming('approve')} disabled={busy} aria-label={`Approve deploying ${view.shortCommit} to ${view.environment.name}`}>
            Approve
          </button>
          <button type="button" className="btn" ref={(b) => void (buttons.current.reject = b)} onClick={() => setConfirming('reject')} disabled={busy} aria-label={`Reject deploying ${view.shortCommit} to ${view.environment.name}`}>
            Reject
          </button>
          <span className="small subtle">Signing with “{keyState.label}”, the key on this device.</span>
        </div>
      )}
      {error && <ErrorBanner message={error.message} code={error.code} />}
      {confirming && (
        <Confirm
          title={`Sign ${verb(confirming)} of deploying ${view.shortCommit} to ${view.environment.name}?`}
          confirmLabel={`Sign ${verb(confirming)}`}
          danger={confirming === 'reject'}
          busy={busy}
          onConfirm={() => void submit(confirming)}
          onCancel={() => {
            returnFocus.current = confirming;
            setConfirming(undefined);
          }}
        >
          <p>
            You are signing {confirming === 'approve' ? 'an approval' : 'a rejection'} of deploying exactly commit <code>{view.commit}</code>
            {view.ref ? ` (${view.ref.type} ${view.ref.name})` : ''} to {view.environment.name}, under policy version {page.policy?.version}.
          </p>
          <p className="small subtle">The signature is made on this device. Countersign records it, as you signed it, in this repository’s ledger, an append-only log the app signs.</p>
        </Confirm>
      )}
    </div>
  );
}
