import {
  CHALLENGE_RETENTION_SECONDS,
  explainRefusedChallenge,
  SignedStatement,
  verifySubmission,
  type StoredApproval,
} from '../core';
import type { Deps } from '../ports';
import { publishBuildStatus } from './buildStatus';
import { judge } from './judge';
import { callerOf, parsePayload, pullRequestOf } from './requests';

/**
 * Accepts a signed approval or rejection only after every check in `verifySubmission` and an atomic
 * consume of its challenge; anything else is refused with a reason and nothing is stored.
 */
export async function submitDecision(deps: Deps, payload: unknown, context: unknown) {
  const caller = callerOf(context);
  const pullRequest = pullRequestOf(caller);
  const signed = parsePayload(SignedStatement, payload);

  const [pr, gate] = await Promise.all([
    deps.bitbucket.getPullRequest(caller.workspace, caller.repository, pullRequest, 'user'),
    deps.gate.loadGate(caller.repository, pullRequest, { key: { accountId: caller.accountId, keyId: signed.statement.keyId } }),
  ]);
  const now = deps.now();
  await verifySubmission(signed, {
    caller: caller.accountId,
    workspace: caller.workspace,
    repository: caller.repository,
    pullRequest,
    pr,
    policy: gate.policy,
    key: gate.key,
    revokedKeys: gate.revokedKeys,
    now,
  });
  const claim = { accountId: caller.accountId, workspace: caller.workspace, repository: caller.repository, pullRequest, now };
  const approval: StoredApproval = { ...signed, publicKey: gate.key!.publicKey, receivedAt: now.toISOString() };
  const challenge = { value: signed.statement.challenge, claim, ttlSeconds: CHALLENGE_RETENTION_SECONDS };
  const outcome = await deps.gate.recordDecision(caller.repository, pullRequest, approval, challenge);
  if (!outcome.consumed) explainRefusedChallenge(outcome.found, claim);

  // Judged from a read after the write, so signatures that landed concurrently are counted too.
  const after = await deps.gate.loadGate(caller.repository, pullRequest);
  const { verdict } = await judge(pr, after, deps.verified);
  await publishBuildStatus(deps, pr, after.policy, verdict);
  return { verdict };
}
