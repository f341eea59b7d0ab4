import {
  CHALLENGE_RETENTION_SECONDS,
  CHALLENGE_TTL_SECONDS,
  eligibilityOf,
  revocationId,
  rulesFor,
  shortCommit,
  type ChallengeRecord,
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

  const [pr, gate, myKeys] = await Promise.all([
    deps.bitbucket.getPullRequest(caller.workspace, caller.repository, pullRequest, 'user'),
    deps.gate.loadGate(caller.repository, pullRequest),
    deps.keys.listKeys(caller.accountId),
  ]);
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
