import { checkedApproval, evaluateQuorum, hasIntactHash, RequestError, type CheckedApproval, type PullRequestFacts, type Verdict } from '../core';
import type { GateState } from '../ports';

/**
 * Judges the stored decisions in force against the pull request as Bitbucket says it is now; shared
 * by the merge check, the card and submission. A decision whose storage seal is broken does not count.
 */
export async function judge(pr: PullRequestFacts, gate: GateState): Promise<{ verdict: Verdict; approvals: CheckedApproval[] }> {
  if (gate.policy && !(await hasIntactHash(gate.policy))) {
    throw new RequestError('STORAGE_ERROR', 'The stored policy does not match its hash; an admin should review and save the policy again.');
  }
  const approvals = gate.approvals.map(({ signer, record, intact }) => {
    const checked = checkedApproval(signer, record, gate.revokedKeys);
    return intact ? checked : { ...checked, problem: 'bad-signature' as const };
  });
  return { verdict: evaluateQuorum({ policy: gate.policy, pr, approvals }), approvals };
}
