import {
  assessDeploymentSubmission,
  CHALLENGE_RETENTION_SECONDS,
  CHALLENGE_TTL_SECONDS,
  checkedDeploymentApproval,
  deploymentEligibilityOf,
  deploymentId,
  environmentPolicyFor,
  evaluateDeployment,
  explainRefusedChallenge,
  requestFacts,
  RequestError,
  revocationId,
  shortCommit,
  SubmittedDeploymentDecision,
  submittedDeploymentFacts,
  type ChallengeRecord,
  type DeploymentEligibility,
  type DeploymentRequest,
  type DeploymentVerdict,
} from '../core';
import type { DeploymentState, Deps } from '../ports';
import { signerNameOf } from './decision';
import { callerOf, parsePayload, type Caller } from './requests';

/**
 * The newest waiting and the newest allowed requests are read from their listings (one KVS query each),
 * and at most `SHOWN_PENDING` waiting and `SHOWN_RECENT` allowed ones are judged, each one
 * `loadDeployment`: a page load costs a bounded number of storage calls however long the history.
 */
export const SHOWN_PENDING = 10;
export const SHOWN_RECENT = 10;

export interface DeploymentView {
  id: string;
  environment: { uuid: string; name: string };
  commit: string;
  shortCommit: string;
  ref: DeploymentRequest['ref'] | null;
  buildNumber: number | null;
  requestedAt: string;
  state: DeploymentRequest['state'];
  allowedAt: string | null;
  commitAuthor: string | null;
  pipelineStarter: string | null;
  merger: string | null;
  verdict: DeploymentVerdict;
  /** Who the environment's separation of duties leaves out of this deployment, signed or not, and why. */
  excluded: { accountId: string; reason: 'commit-author' | 'merger' | 'pipeline-starter' }[];
  /** The viewer's part: whether they may sign, their decision in force, and a challenge to sign with (only when they may). */
  me: {
    eligibility: DeploymentEligibility;
    decision: { decision: 'approve' | 'reject'; issuedAt: string; problem: 'revoked-key' | null } | null;
    challenge: { value: string; expiresAt: string } | null;
  };
}

export interface DeploymentsPage {
  workspace: string;
  repository: string;
  policy: { version: number; hash: string } | null;
  /** The environments the policy gates, by UUID, with their names. */
  environments: { uuid: string; name: string }[];
  pending: DeploymentView[];
  recent: DeploymentView[];
  /** Whether more deployments wait than are shown. */
  truncated: boolean;
  me: { accountId: string; keys: { keyId: string; label: string; revoked: boolean }[] };
}

/** The repository's deployment requests waiting for signatures, and the latest allowed, each judged as the gate would now. */
export async function getDeployments(deps: Deps, context: unknown): Promise<DeploymentsPage> {
  const caller = callerOf(context);
  const [permission, waiting, allowed, myKeys] = await Promise.all([
    deps.bitbucket.getMyPermission(caller.workspace, caller.repository),
    deps.deployments.listDeploymentRequests(caller.repository, 'pending', SHOWN_PENDING + 1),
    deps.deployments.listDeploymentRequests(caller.repository, 'allowed', SHOWN_RECENT),
    deps.keys.listKeys(caller.accountId),
  ]);
  mayRead(permission);
  const shown = [...waiting.slice(0, SHOWN_PENDING), ...allowed];
  const loaded = await Promise.all(shown.map((r) => deps.deployments.loadDeployment(caller.repository, r)));
  // Only the sealed request is shown: a listing copy whose sealed request is missing is not rendered, nor given a challenge.
  const states = loaded.filter((state): state is DeploymentState & { request: DeploymentRequest } => state.request !== undefined);
  const now = deps.now();
  const views = await Promise.all(states.map((state) => viewOf(deps, caller, state.request, state, now)));
  const policy = loaded[0]?.policy ?? (await deps.gate.loadPolicy(caller.repository));
  const revoked = loaded[0]?.revokedKeys;
  return {
    workspace: caller.workspace,
    repository: caller.repository,
    policy: policy ? { version: policy.version, hash: policy.hash } : null,
    environments: (policy?.environments ?? []).map((e) => ({ uuid: e.environment, name: e.name })),
    pending: views.filter((v) => v.state === 'pending'),
    recent: views.filter((v) => v.state === 'allowed'),
    truncated: waiting.length > SHOWN_PENDING,
    me: { accountId: caller.accountId, keys: myKeys.map((k) => ({ keyId: k.keyId, label: k.label, revoked: revoked?.has(revocationId(caller.accountId, k.keyId)) ?? false })) },
  };
}

/** `current` is the sealed request (never its listing copy, which is only where the page finds it). */
async function viewOf(deps: Deps, caller: Caller, current: DeploymentRequest, state: DeploymentState, now: Date): Promise<DeploymentView> {
  const verdict = judgeDeployment(current, state);
  const eligibility = deploymentEligibilityOf(state.policy, current, caller.accountId);
  const mine = state.approvals.find((a) => a.signer === caller.accountId);
  let challenge: DeploymentView['me']['challenge'] = null;
  if (current.state === 'pending' && eligibility === 'eligible') {
    const value = deps.randomToken();
    const expiresAt = new Date(now.getTime() + CHALLENGE_TTL_SECONDS * 1000).toISOString();
    const record: ChallengeRecord = { accountId: caller.accountId, workspace: caller.workspace, repository: caller.repository, deployment: current.id, expiresAt, consumed: false };
    await deps.challenges.issueChallenge(value, record, CHALLENGE_RETENTION_SECONDS);
    challenge = { value, expiresAt };
  }
  const merge = state.merge ?? current.merge;
  const environment = environmentPolicyFor(state.policy?.environments, current.environment);
  const excluded: DeploymentView['excluded'] = [];
  if (environment?.excludeCommitAuthor && current.commitAuthor) excluded.push({ accountId: current.commitAuthor, reason: 'commit-author' });
  if (environment?.excludeMerger && merge?.merger) excluded.push({ accountId: merge.merger, reason: 'merger' });
  if (environment?.excludePipelineStarter && current.pipelineStarter) excluded.push({ accountId: current.pipelineStarter, reason: 'pipeline-starter' });
  return {
    id: current.id,
    environment: verdict.environment,
    commit: current.commit,
    shortCommit: shortCommit(current.commit),
    ref: current.ref ?? null,
    buildNumber: current.buildNumber ?? null,
    requestedAt: current.requestedAt,
    state: current.state,
    allowedAt: current.allowedAt ?? null,
    commitAuthor: current.commitAuthor ?? null,
    pipelineStarter: current.pipelineStarter ?? null,
    merger: merge?.merger ?? null,
    verdict,
    excluded,
    me: {
      eligibility,
      decision: mine ? { decision: mine.record.decision, issuedAt: mine.record.issuedAt, problem: state.revokedKeys.has(revocationId(mine.signer, mine.record.keyId)) ? 'revoked-key' : null } : null,
      challenge,
    },
  };
}

/** The gate's verdict on a request from what storage holds now: its recorded facts, the merge index, and the approvals in force. */
function judgeDeployment(request: DeploymentRequest, state: DeploymentState): DeploymentVerdict {
  const merge = state.merge ?? request.merge;
  return evaluateDeployment({
    policy: state.policy,
    facts: { ...requestFacts(request), ...(merge ? { merge } : {}) },
    approvals: state.approvals.map((a) => checkedDeploymentApproval(a.signer, a.record, state.revokedKeys)),
  });
}

/**
 * Accepts a signed deployment approval or rejection only after every check in
 * `assessDeploymentSubmission`; then consumes its challenge, records it as the signer's position and
 * appends it to the ledger in one transaction, and answers with the verdict read after the write.
 */
export async function submitDeploymentDecision(deps: Deps, payload: unknown, context: unknown): Promise<{ verdict: DeploymentVerdict }> {
  const caller = callerOf(context);
  const { envelope, deployment: target } = parsePayload(SubmittedDeploymentDecision, payload);
  const facts = submittedDeploymentFacts(envelope);
  const [permission, state, signerName] = await Promise.all([
    deps.bitbucket.getMyPermission(caller.workspace, caller.repository),
    deps.deployments.loadDeployment(caller.repository, target, { key: { accountId: caller.accountId, keyId: facts.keyId } }),
    signerNameOf(deps, caller.accountId),
  ]);
  mayRead(permission);
  const now = deps.now();
  await assessDeploymentSubmission(envelope, facts, {
    caller: caller.accountId,
    workspace: caller.workspace,
    repository: caller.repository,
    target,
    request: state.request,
    policy: state.policy,
    key: state.key,
    revokedKeys: state.revokedKeys,
    now,
  });
  const id = deploymentId(target);
  const claim = { accountId: caller.accountId, workspace: caller.workspace, repository: caller.repository, deployment: id, now };
  const { subject, decision, policy, keyId, issuedAt } = facts;
  const outcome = await deps.deployments.recordDeploymentDecision({
    repository: caller.repository,
    deployment: id,
    signer: caller.accountId,
    record: { decision, commit: subject.commit, environment: subject.environment, policy, keyId, issuedAt, ...(signerName ? { signerName } : {}) },
    event: { type: 'deployment.decision.accepted', subject, signer: caller.accountId, keyId, decision, publicKey: state.key!.publicKey, envelope },
    at: now.toISOString(),
    challenge: { value: facts.challenge, claim, ttlSeconds: CHALLENGE_RETENTION_SECONDS },
  });
  if (!outcome.consumed) explainRefusedChallenge(outcome.found, claim);
  // Judged from a read after the write, so signatures that landed concurrently are counted too.
  const after = await deps.deployments.loadDeployment(caller.repository, target);
  return { verdict: judgeDeployment(after.request ?? state.request!, after) };
}

function mayRead(permission: string): void {
  if (permission === 'none') {
    throw new RequestError('FORBIDDEN', 'You have no access to this repository in Bitbucket, so its Countersign deployments are not shown; ask an admin for read access.');
  }
}
