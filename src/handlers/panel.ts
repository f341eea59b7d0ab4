import {
  CHALLENGE_RETENTION_SECONDS,
  CHALLENGE_TTL_SECONDS,
  eligibilityOf,
  revocationId,
  rulesFor,
  shortCommit,
  type ChallengeRecord,
  type MergeStrategy,
} from '../core';
import type { Deps } from '../ports';
import { judge } from './judge';
import { callerOf, pullRequestOf } from './requests';

/** Everything the PR card shows, from one call: policy summary, verdict, the viewer's standing and keys, and a fresh challenge. */
export async function getPanelState(deps: Deps, context: unknown) {
  const caller = callerOf(context);
  const pullRequest = pullRequestOf(caller);
  const challenge = deps.randomToken();
  const expiresAt = new Date(deps.now().getTime() + CHALLENGE_TTL_SECONDS * 1000).toISOString();
  const record: ChallengeRecord = { accountId: caller.accountId, workspace: caller.workspace, repository: caller.repository, pullRequest, expiresAt, consumed: false };

  const [pr, gate, myKeys, prState] = await Promise.all([
    deps.bitbucket.getPullRequest(caller.workspace, caller.repository, pullRequest, 'user'),
    deps.gate.loadGate(caller.repository, pullRequest),
    deps.keys.listKeys(caller.accountId),
    deps.reevaluation.loadPullRequestState(caller.repository, pullRequest),
  ]);
  // The auto-merge of the commit shown, if one was tried: a failure is shown on the card, not retried.
  const claim = prState.autoMerge?.commit === pr.headCommit ? prState.autoMerge : undefined;
  const autoMerge: AutoMergeView | null = claim
    ? { state: claim.state, commit: claim.commit, strategy: claim.strategy, at: claim.at, reason: claim.reason ?? null }
    : null;
  // Only once Bitbucket has shown this user the pull request: a refused read leaves nothing behind.
  await deps.challenges.issueChallenge(challenge, record, CHALLENGE_RETENTION_SECONDS);
  const { verdict, approvals } = await judge(pr, gate);
  const mine = approvals.find((a) => a.signer === caller.accountId);

  return {
    workspace: caller.workspace,
    repository: caller.repository,
    pullRequest: {
      id: pr.id,
      title: pr.title,
      state: pr.state,
      author: pr.author,
      targetBranch: pr.targetBranch,
      headCommit: pr.headCommit,
      shortCommit: shortCommit(pr.headCommit),
    },
    policy: gate.policy && {
      version: gate.policy.version,
      hash: gate.policy.hash,
      rules: rulesFor(gate.policy, pr.targetBranch),
    },
    // Who the verdict mentions, by name, is in `verdict.names`.
    verdict,
    autoMerge,
    me: {
      accountId: caller.accountId,
      eligibility: eligibilityOf(gate.policy, pr, caller.accountId),
      decision: mine && {
        decision: mine.decision,
        commit: mine.commit,
        issuedAt: mine.issuedAt,
        stale: mine.commit !== pr.headCommit,
        problem: mine.problem,
      },
      keys: myKeys.map((key) => ({ ...key, revoked: gate.revokedKeys.has(revocationId(caller.accountId, key.keyId)) })),
    },
    challenge: { value: challenge, expiresAt },
  };
}

export type PanelState = Awaited<ReturnType<typeof getPanelState>>;

/** Countersign's auto-merge of the head commit: trying, done, or failed with Bitbucket's reason. */
export interface AutoMergeView {
  state: 'attempting' | 'merged' | 'failed';
  commit: string;
  strategy: MergeStrategy;
  at: string;
  reason: string | null;
}
