import { useEffect, useRef, useState } from 'react';
import type { Decision } from '../../../src/core/statement';
import { call } from '../../shared/bridge';
import type { DeviceKey } from '../../shared/deviceKeys';
import { signDecision } from '../../shared/signing';
import { Confirm, ErrorBanner, formatTime } from '../../shared/ui';
import { Enrol } from './Enrol';
import type { CardPanel, ReviewerState } from './reviewerState';

interface Props {
  panel: CardPanel;
  state: ReviewerState;
  onPanel: (panel: CardPanel) => void;
  onDeviceKey: (key: DeviceKey) => void;
  onReload: () => void;
}

const NOTHING_TO_SIGN: Partial<Record<ReviewerState['kind'], string>> = {
  'not-gated': 'There is nothing to sign on this pull request.',
  author: 'You opened this pull request, so your signature would not count toward its quorum.',
  'commit-author': 'You authored a commit in this pull request, and this branch does not count signatures from commit authors.',
  'not-eligible': 'You are not in a group that signs for this branch, so there is nothing for you to sign.',
};

/** The viewer's part: why they cannot sign, or enrolment, or the sign buttons with their current standing. */
export function MyPart({ panel, state, onPanel, onDeviceKey, onReload }: Props) {
  const note = NOTHING_TO_SIGN[state.kind];
  return (
    <section aria-labelledby="my-part" className="stack card">
      <h2 id="my-part">Your signature</h2>
      {state.kind === 'closed' && <p>This pull request is {state.state.toLowerCase()}; there is nothing left to sign.</p>}
      {note && <p data-testid="cannot-sign">{note}</p>}
      {state.kind === 'no-key' && <Enrol panel={panel} onPanel={onPanel} onDeviceKey={onDeviceKey} />}
      {state.kind === 'key-missing' && (
        <>
          <div className="banner warning" data-testid="key-missing">
            <p>
              Your account has {state.labels.length === 1 ? 'a signing key' : `${state.labels.length} signing keys`} ({state.labels.map((l) => `“${l}”`).join(', ')}), but this
              browser holds none of them. If you enrolled this device before, its key is gone: the browser cleared what it stores for Countersign
              (browsers may clear or separate storage of apps shown in a frame, and private windows keep nothing).
            </p>
            <p className="small">Enrol this device again to sign. A key that is gone can never sign; revoke it in Repository settings → Countersign.</p>
          </div>
          <Enrol panel={panel} onPanel={onPanel} onDeviceKey={onDeviceKey} />
        </>
      )}
      {state.kind === 'key-revoked' && (
        <>
          <p className="banner danger" data-testid="key-revoked">
            The key on this device (“{state.label}”) was revoked, so it can no longer sign. Enrol a new key to sign again.
          </p>
          <Enrol panel={panel} onPanel={onPanel} onDeviceKey={onDeviceKey} />
        </>
      )}
      {state.kind === 'can-sign' && <Sign panel={panel} state={state} onPanel={onPanel} onReload={onReload} />}
    </section>
  );
}

function Sign({ panel, state, onPanel, onReload }: Omit<Props, 'onDeviceKey' | 'state'> & { state: Extract<ReviewerState, { kind: 'can-sign' }> }) {
  const [confirming, setConfirming] = useState<Decision>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ code: string; message: string }>();
  const { pullRequest } = panel;
  // After Cancel, focus goes back to the button that opened the confirmation (the buttons are hidden while it is open).
  const buttons = useRef<Partial<Record<Decision, HTMLButtonElement | null>>>({});
  const returnFocus = useRef<Decision | undefined>(undefined);
  useEffect(() => {
    if (confirming || !returnFocus.current) return;
    buttons.current[returnFocus.current]?.focus();
    returnFocus.current = undefined;
  }, [confirming]);

  async function submit(decision: Decision) {
    setBusy(true);
    setError(undefined);
    try {
      // A challenge is single use; after a signature (or once expired) a fresh one comes with fresh state.
      let current = panel;
      if (!current.challenge || Date.parse(current.challenge.expiresAt) <= Date.now() + 5_000) {
        const fresh = await call('getPanelState');
        if (!fresh.ok) return fail(fresh);
        current = fresh.data;
      }
      // Never sign anything other than what the confirmation showed.
      const changed =
        current.pullRequest.headCommit !== pullRequest.headCommit ||
        current.pullRequest.targetBranch !== pullRequest.targetBranch ||
        current.policy?.hash !== panel.policy?.hash;
      if (!current.challenge || !current.policy || changed) {
        onPanel(current);
        return fail({ code: 'STALE', message: 'The pull request or its policy changed while you were reading; check what is shown now and sign again.' });
      }
      const signed = await signDecision(
        state.key,
        {
          workspace: current.workspace,
          repository: current.repository,
          pullRequest: current.pullRequest.id,
          commit: current.pullRequest.headCommit,
          targetBranch: current.pullRequest.targetBranch,
          policy: current.policy.hash,
          signer: current.me.accountId,
          challenge: current.challenge.value,
        },
        decision,
        new Date(),
      );
      const result = await call('submitDecision', { envelope: signed.envelope });
      if (!result.ok) return fail(result);
      setBusy(false);
      setConfirming(undefined);
      const mine = { decision, commit: signed.statement.subject[0].digest.gitCommit, issuedAt: signed.statement.predicate.issuedAt, stale: false, problem: undefined };
      onPanel({ ...current, verdict: result.data.verdict, me: { ...current.me, decision: mine }, challenge: null });
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
      {state.current && (
        <p data-testid="my-decision">
          You signed {state.current.decision === 'approve' ? 'an approval' : 'a rejection'} of <code>{pullRequest.shortCommit}</code> on {formatTime(state.current.issuedAt)}.
        </p>
      )}
      {state.stale && (
        <p className="banner warning" data-testid="my-stale">
          Your {verb(state.stale.decision)} was for <code>{state.stale.commit.slice(0, 7)}</code>, an older commit, so it no longer counts. Sign again for <code>{pullRequest.shortCommit}</code>.
        </p>
      )}
      {!confirming && (
        <div className="row">
          <button type="button" className="btn primary" ref={(b) => void (buttons.current.approve = b)} onClick={() => setConfirming('approve')} disabled={busy}>
            Sign approval
          </button>
          <button type="button" className="btn" ref={(b) => void (buttons.current.reject = b)} onClick={() => setConfirming('reject')} disabled={busy}>
            Sign rejection
          </button>
        </div>
      )}
      <p className="small subtle">Signing with “{state.label}”, the key on this device.</p>
      {error && <ErrorBanner message={error.message} code={error.code} onRetry={onReload} />}
      {confirming && (
        <Confirm
          title={`Sign ${verb(confirming)} of ${pullRequest.shortCommit}?`}
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
            You are signing {confirming === 'approve' ? 'an approval' : 'a rejection'} of exactly commit <code>{pullRequest.headCommit}</code> of pull request #{pullRequest.id} “{pullRequest.title}” into{' '}
            <code>{pullRequest.targetBranch}</code>, under policy version {panel.policy?.version}.
          </p>
          <p className="small subtle">
            The signature is made on this device. Countersign records it, as you signed it, in this repository’s ledger, an append-only log the app signs. A new push
            makes it stale; you can sign again while the pull request is open.
          </p>
        </Confirm>
      )}
    </div>
  );
}
