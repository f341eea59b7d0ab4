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
  /** Server order of acceptance: of one signer's statements, the highest is in force. */
  seq: number;
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
 * Re-verifies what storage holds, as if it had never been checked, in steps: shape → scope →
 * key binding and signature (all entries at once) → revocation. Entries too malformed to attribute
 * to anyone are dropped.
 */
export async function checkStoredApprovals(
  stored: unknown[],
  scope: ApprovalScope,
  revokedKeys: Pick<ReadonlySet<string>, 'has'>,
  cache?: VerifiedCache,
): Promise<CheckedApproval[]> {
  const entries = stored.flatMap((entry) => {
    const parsed = StoredApproval.safeParse(entry);
    return parsed.success ? [toEntry(parsed.data, scope)] : [];
  });
  await verifySignatures(entries.filter((e) => !e.checked.problem && !cache?.has(e.fingerprint)), cache);
  return entries.map(({ checked }) =>
    !checked.problem && revokedKeys.has(revocationId(checked.signer, checked.keyId)) ? { ...checked, problem: 'revoked-key' } : checked,
  );
}

interface Entry {
  approval: StoredApproval;
  fingerprint: string;
  checked: CheckedApproval;
}

function toEntry(approval: StoredApproval, scope: ApprovalScope): Entry {
  const { statement, publicKey, signature } = approval;
  const checked: CheckedApproval = {
    signer: statement.signer,
    keyId: statement.keyId,
    decision: statement.decision,
    commit: statement.commit,
    targetBranch: statement.targetBranch,
    policy: statement.policy,
    issuedAt: statement.issuedAt,
    seq: approval.seq ?? 0,
  };
  const inScope =
    statement.workspace === scope.workspace && statement.repository === scope.repository && statement.pullRequest === scope.pullRequest;
  if (!inScope) checked.problem = 'wrong-pull-request';
  return { approval, checked, fingerprint: `${publicKey.x}.${publicKey.y}.${signature}.${JSON.stringify(statement)}` };
}

/** Key binding (thumbprint) and signature for every entry that still needs them, each step as one batch. */
async function verifySignatures(entries: Entry[], cache: VerifiedCache | undefined): Promise<void> {
  const keyIds = await Promise.all(entries.map((e) => keyIdOf(e.approval.publicKey)));
  const valid = await Promise.all(entries.map((e) => hasValidSignature(e.approval, e.approval.publicKey)));
  entries.forEach((entry, i) => {
    if (keyIds[i] !== entry.checked.keyId) entry.checked.problem = 'key-mismatch';
    else if (!valid[i]) entry.checked.problem = 'bad-signature';
    else cache?.add(entry.fingerprint);
  });
}
