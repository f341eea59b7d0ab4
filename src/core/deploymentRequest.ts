import * as z from 'zod/mini';
import { DecisionSchema } from './statementSchema';
import { AccountId, BitbucketUuid, FullCommitHash, KeyId, UtcTimestamp } from './formats';
import { MAX_DISPLAY_NAME } from './names';
import type { CheckedDeploymentApproval, DeploymentFacts } from './deploymentGate';
import { revocationId } from './records';

const Ref = z.strictObject({ type: z.enum(['branch', 'tag']), name: z.string().check(z.minLength(1), z.maxLength(255)) });

/** A merge the ledger recorded, found by the commit it wrote: what the gate's merge requirement reads. */
export const MergedCommit = z.strictObject({
  pullRequest: z.int().check(z.positive()),
  gated: z.boolean(),
  pass: z.boolean(),
  merger: z.optional(AccountId),
  /** The pull request's author and its commits' authors, as the merge record judged them (absent from records written before they were kept). */
  author: z.optional(AccountId),
  commitAuthors: z.optional(z.array(AccountId)),
  /** The branch the pull request merged into (absent from records written before it was kept). */
  targetBranch: z.optional(z.string().check(z.minLength(1), z.maxLength(255))),
  /** The ledger entry of the merge record. */
  entry: z.int().check(z.positive()),
});
export type MergedCommit = z.infer<typeof MergedCommit>;

/**
 * Which of two merges that wrote the same commit stands for it (a fast-forward writes the head's hash
 * again; a commit can be merged twice): the first, unless it was not gated and passing and the later
 * one is. The store's index and the evidence verifier both keep a commit's merge by this one rule.
 */
export function mergeToKeep<T extends { gated: boolean; pass: boolean }>(current: T | undefined, candidate: T): T {
  if (!current) return candidate;
  return !(current.gated && current.pass) && candidate.gated && candidate.pass ? candidate : current;
}

/**
 * A deployment someone asked the gate about: one per environment and commit (`deploymentId`), opened
 * by the first pipeline to ask, listed on the deployments page until it is allowed. What it says of
 * the pipeline comes from Bitbucket, read by the gate as the app.
 */
export const DeploymentRequest = z.strictObject({
  id: z.string(),
  environment: BitbucketUuid,
  environmentName: z.string().check(z.maxLength(100)),
  commit: FullCommitHash,
  ref: z.optional(Ref),
  pipeline: BitbucketUuid,
  /** Bitbucket's build number, for people to recognise the pipeline. */
  buildNumber: z.optional(z.int()),
  commitAuthor: z.optional(AccountId),
  pipelineStarter: z.optional(AccountId),
  merge: z.optional(MergedCommit),
  requestedAt: UtcTimestamp,
  state: z.enum(['pending', 'allowed']),
  allowedAt: z.optional(UtcTimestamp),
  /** The ledger entry that opened it. */
  entry: z.int().check(z.positive()),
});
export type DeploymentRequest = z.infer<typeof DeploymentRequest>;

/** What storage keeps of a deployment decision in force (the envelope itself is in the ledger). */
export const DeploymentApprovalRecord = z.strictObject({
  decision: DecisionSchema,
  commit: FullCommitHash,
  environment: BitbucketUuid,
  policy: z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/)),
  keyId: KeyId,
  issuedAt: UtcTimestamp,
  seq: z.int().check(z.positive()),
  entry: z.int().check(z.positive()),
  signerName: z.optional(z.string().check(z.minLength(1), z.maxLength(MAX_DISPLAY_NAME))),
});
export type DeploymentApprovalRecord = z.infer<typeof DeploymentApprovalRecord>;

export function checkedDeploymentApproval(signer: string, record: DeploymentApprovalRecord, revokedKeys: { has(id: string): boolean }): CheckedDeploymentApproval {
  const { entry: _entry, ...fields } = record;
  const checked: CheckedDeploymentApproval = { signer, ...fields };
  if (revokedKeys.has(revocationId(signer, record.keyId))) checked.problem = 'revoked-key';
  return checked;
}

/** The facts a request recorded, as the gate judges them. */
export function requestFacts(request: DeploymentRequest): DeploymentFacts {
  return {
    environment: { uuid: request.environment, name: request.environmentName },
    commit: request.commit,
    ...(request.ref ? { ref: request.ref } : {}),
    ...(request.commitAuthor ? { commitAuthor: request.commitAuthor } : {}),
    ...(request.pipelineStarter ? { pipelineStarter: request.pipelineStarter } : {}),
    ...(request.merge ? { merge: request.merge } : {}),
  };
}
