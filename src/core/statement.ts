import * as z from 'zod/mini';
import { canonicalBytes, decodeBase64url, PublicJwk, verifyP1363 } from './crypto';
import {
  AccountId,
  BitbucketUuid,
  BranchName,
  ChallengeValue,
  FullCommitHash,
  KeyId,
  PullRequestId,
  SignatureValue,
  UtcTimestamp,
} from './formats';

export const STATEMENT_TYPE = 'countersign.approval/v1';

/** Statement v1: exactly what an approver signs. Unknown fields are refused, not ignored. */
export const Statement = z.strictObject({
  type: z.literal(STATEMENT_TYPE),
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  pullRequest: PullRequestId,
  commit: FullCommitHash,
  targetBranch: BranchName,
  decision: z.enum(['approve', 'reject']),
  policy: z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/, 'must be a policy hash')),
  signer: AccountId,
  keyId: KeyId,
  issuedAt: UtcTimestamp,
  challenge: ChallengeValue,
});
export type Statement = z.infer<typeof Statement>;
export type Decision = Statement['decision'];

/** A signed statement as submitted and as stored, with the public key it was checked against. */
export const SignedStatement = z.strictObject({
  statement: Statement,
  signature: SignatureValue,
});
export type SignedStatement = z.infer<typeof SignedStatement>;

export const StoredApproval = z.strictObject({
  ...SignedStatement.shape,
  publicKey: PublicJwk,
  receivedAt: UtcTimestamp,
  /** The order in which the server accepted statements; absent on records written before it was kept. */
  seq: z.optional(z.int().check(z.nonnegative())),
});
export type StoredApproval = z.infer<typeof StoredApproval>;

export function buildStatement(fields: Omit<Statement, 'type'>): Statement {
  return { type: STATEMENT_TYPE, ...fields };
}

/** The bytes that are signed: the RFC 8785 canonical JSON of the statement. */
export function statementBytes(statement: Statement): Uint8Array<ArrayBuffer> {
  return canonicalBytes(statement);
}

export async function hasValidSignature(signed: SignedStatement, publicKey: PublicJwk): Promise<boolean> {
  const signature = decodeBase64url(signed.signature);
  if (!signature) return false;
  return verifyP1363(publicKey, statementBytes(signed.statement), signature);
}
