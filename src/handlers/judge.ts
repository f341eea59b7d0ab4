import {
  checkStoredApprovals,
  evaluateQuorum,
  hasIntactHash,
  RequestError,
  type CheckedApproval,
  type PullRequestFacts,
  type Verdict,
  type VerifiedCache,
} from '../core';
import type { GateState } from '../ports';

/** Re-verifies stored approvals and evaluates the quorum; shared by the merge check, the card and submission. */
export async function judge(
  pr: PullRequestFacts,
  gate: GateState,
  verified: VerifiedCache,
): Promise<{ verdict: Verdict; approvals: CheckedApproval[] }> {
  if (gate.policy && !(await hasIntactHash(gate.policy))) {
    throw new RequestError('STORAGE_ERROR', 'The stored policy does not match its hash; an admin should review and save the policy again.');
  }
  const approvals = await checkStoredApprovals(
    gate.approvals,
    { workspace: pr.workspace, repository: pr.repository, pullRequest: pr.id },
    gate.revokedKeys,
    verified,
  );
  return { verdict: evaluateQuorum({ policy: gate.policy, pr, approvals }), approvals };
}
