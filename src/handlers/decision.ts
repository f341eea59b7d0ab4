import { assessSubmission, CHALLENGE_RETENTION_SECONDS, cleanDisplayName, explainRefusedChallenge, RequestError, SubmittedDecision, submittedFacts } from '../core';
import type { Deps } from '../ports';
import { judge } from './judge';
import { requestReevaluation } from './reevaluate';
import { callerOf, parsePayload, pullRequestOf } from './requests';

/**
 * Accepts a signed approval or rejection (a DSSE envelope) only after every check in
 * `assessSubmission`; then consumes its challenge, records it as the signer's position and appends it
 * to the ledger in one transaction. Anything else is refused with a reason and nothing is stored.
 */
export async function submitDecision(deps: Deps, payload: unknown, context: unknown) {
  const caller = callerOf(context);
  const pullRequest = pullRequestOf(caller);
  const { envelope } = parsePayload(SubmittedDecision, payload);
  const facts = submittedFacts(envelope);

  const [pr, gate, signerName] = await Promise.all([
    deps.bitbucket.getPullRequest(caller.workspace, caller.repository, pullRequest, 'user'),
    deps.gate.loadGate(caller.repository, pullRequest, { key: { accountId: caller.accountId, keyId: facts.keyId } }),
    signerNameOf(deps, caller.accountId),
  ]);
  const now = deps.now();
  await assessSubmission(envelope, facts, {
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
  const { subject, decision, policy, keyId: signedKey, issuedAt } = facts;
  const outcome = await deps.gate.recordDecision({
    repository: caller.repository,
    pullRequest,
    signer: caller.accountId,
    record: { decision, commit: subject.commit, targetBranch: subject.targetBranch, policy, keyId: signedKey, issuedAt, ...(signerName ? { signerName } : {}) },
    event: { type: 'decision.accepted', subject, signer: caller.accountId, keyId: signedKey, decision, publicKey: gate.key!.publicKey, envelope },
    at: now.toISOString(),
    challenge: { value: facts.challenge, claim, ttlSeconds: CHALLENGE_RETENTION_SECONDS },
  });
  if (!outcome.consumed) explainRefusedChallenge(outcome.found, claim);

  // Judged from a read after the write, so signatures that landed concurrently are counted too.
  const after = await deps.gate.loadGate(caller.repository, pullRequest);
  const { verdict } = await judge(pr, after);
  // The status, an auto-merge and their ledger entries come from re-evaluation, queued.
  await requestReevaluation(deps, [{ kind: 'pull-request', workspace: caller.workspace, repository: caller.repository, pullRequest, reason: 'decision' }]);
  return { verdict };
}

/**
 * The signer's display name as Bitbucket gives it to the signer themselves, kept with their decision
 * so the merge check (which reads no one's profile) can name them. Never a name the browser sends.
 * A name is a courtesy, not a check: if Bitbucket does not answer, or answers for another account,
 * the decision is kept without one and shown by participant name or account ID.
 */
export async function signerNameOf(deps: Deps, accountId: string): Promise<string | undefined> {
  try {
    const me = await deps.bitbucket.getMyAccount();
    return me.accountId === accountId ? cleanDisplayName(me.displayName) : undefined;
  } catch (error) {
    // Bitbucket's refusals and outages come as RequestError; anything else (such as Forge's
    // "Allow access" prompt for asUser calls) must pass through.
    if (error instanceof RequestError) return undefined;
    throw error;
  }
}
