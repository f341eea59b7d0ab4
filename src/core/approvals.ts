import { keyIdOf } from './crypto';
import { revocationId } from './records';
import { hasValidSignature, StoredApproval, type Decision } from './statement';

export type ApprovalProblem = 'wrong-pull-request' | 'key-mismatch' | 'bad-signature' | 'revoked-key';

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

/**
 * Remembers exact (statement, signature, key) triples that already verified, so a warm process does
 * not redo the same ECDSA work. Keyed by the full content: any change to a stored approval misses.
 */
export interface VerifiedCache {
  has(fingerprint: string): boolean;
  add(fingerprint: string): void;
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
  revokedKeys: ReadonlySet<string>,
  cache?: VerifiedCache,
): Promise<CheckedApproval[]> {
  const checked = await Promise.all(stored.map((entry) => checkOne(entry, scope, revokedKeys, cache)));
  return checked.filter((entry): entry is CheckedApproval => entry !== undefined);
}

async function checkOne(
  entry: unknown,
  scope: ApprovalScope,
  revokedKeys: ReadonlySet<string>,
  cache: VerifiedCache | undefined,
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
  const fingerprint = `${publicKey.x}.${publicKey.y}.${parsed.data.signature}.${JSON.stringify(statement)}`;
  if (!cache?.has(fingerprint)) {
    if ((await keyIdOf(publicKey)) !== statement.keyId) return { ...base, problem: 'key-mismatch' };
    if (!(await hasValidSignature(parsed.data, publicKey))) return { ...base, problem: 'bad-signature' };
    cache?.add(fingerprint);
  }
  if (revokedKeys.has(revocationId(statement.signer, statement.keyId))) return { ...base, problem: 'revoked-key' };
  return base;
}
