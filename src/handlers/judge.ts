import { checkedApproval, evaluateQuorum, hasIntactHash, RequestError, type CheckedApproval, type PullRequestFacts, type Verdict } from '../core';
import type { GateState } from '../ports';

/**
 * Everything about stored decisions that does not depend on the pull request: the policy's hash and
 * each decision's standing. Run as soon as storage answers, while Bitbucket may still be pending.
 */
export async function prepareJudgement(gate: GateState): Promise<{ gate: GateState; approvals: CheckedApproval[] }> {
  if (gate.policy && !(await hasIntactHash(gate.policy))) {
    throw new RequestError('STORAGE_ERROR', 'The stored policy does not match its hash; an admin should review and save the policy again.');
  }
  const approvals = gate.approvals.map(({ signer, record }) => checkedApproval(signer, record, gate.revokedKeys));
  return { gate, approvals };
}

/** Judges the stored decisions against the pull request as Bitbucket says it is now; shared by the merge check, the card and submission. */
export async function judge(pr: PullRequestFacts, gate: GateState): Promise<{ verdict: Verdict; approvals: CheckedApproval[] }> {
  const { approvals } = await prepareJudgement(gate);
  return { verdict: evaluateQuorum({ policy: gate.policy, pr, approvals }), approvals };
}
