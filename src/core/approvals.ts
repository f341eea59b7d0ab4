import { keyIdOf } from './crypto';
import { hasValidSignature, StoredApproval, type Decision } from './statement';

export type ApprovalProblem = 'malformed' | 'wrong-pull-request' | 'key-mismatch' | 'bad-signature' | 'revoked-key';

/** A stored approval after re-verification; `problem` says why it cannot count, whatever the policy. */
export interface CheckedApproval {
  signer: string;
  keyId: string;
  decision: Decision;
  commit: string;
  targetBranch: string;
  policy: string;
  issuedAt: string;
  problem?: ApprovalProblem;
}

export interface ApprovalScope {
  workspace: string;
  repository: string;
  pullRequest: number;
}

/**
 * Re-verifies what storage holds, as if it had never been checked: shape, scope, key binding,
 * signature, revocation. Entries too malformed to attribute to anyone are dropped.
 */
export async function checkStoredApprovals(
  stored: unknown[],
  scope: ApprovalScope,
  revokedKeyIds: ReadonlySet<string>,
): Promise<CheckedApproval[]> {
  const checked = await Promise.all(stored.map((entry) => checkOne(entry, scope, revokedKeyIds)));
  return checked.filter((entry): entry is CheckedApproval => entry !== undefined);
}

async function checkOne(
  entry: unknown,
  scope: ApprovalScope,
  revokedKeyIds: ReadonlySet<string>,
): Promise<CheckedApproval | undefined> {
  const parsed = StoredApproval.safeParse(entry);
  if (!parsed.success) return undefined;
  const { statement, publicKey } = parsed.data;
  const base: CheckedApproval = {
    signer: statement.signer,
    keyId: statement.keyId,
    decision: statement.decision,
    commit: statement.commit,
    targetBranch: statement.targetBranch,
    policy: statement.policy,
    issuedAt: statement.issuedAt,
  };
  if (
    statement.workspace !== scope.workspace ||
    statement.repository !== scope.repository ||
    statement.pullRequest !== scope.pullRequest
  ) {
    return { ...base, problem: 'wrong-pull-request' };
  }
  if ((await keyIdOf(publicKey)) !== statement.keyId) return { ...base, problem: 'key-mismatch' };
  if (!(await hasValidSignature(parsed.data, publicKey))) return { ...base, problem: 'bad-signature' };
  if (revokedKeyIds.has(statement.keyId)) return { ...base, problem: 'revoked-key' };
  return base;
}
