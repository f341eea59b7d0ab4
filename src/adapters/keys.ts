import { bareUuid } from '../core';

/**
 * How many documents one pull request's approvals are spread over (by signer), and the installation's
 * revocation index over (by key). Both are fixed, so the merge check knows every key it needs before
 * it reads anything: 2 policy records + 20 buckets + 3 shards = 25 keys, one KVS batch. Sized so 5,000
 * signers on one pull request stay far below 240 KiB a bucket, and the index's first pages hold
 * 3 × 8,000 revocations before a shard spills into overflow pages (read in a second round).
 */
export const APPROVAL_BUCKETS = 20;
/** The same for one deployment's approvals: fewer people sign a deployment, and its batch also reads the request and the merge. */
export const DEPLOYMENT_BUCKETS = 8;
export const REVOCATION_SHARDS = 3;

/**
 * A 64-bit FNV-1a-style hash in two 32-bit lanes, as 16 hex digits. Not for secrets: it only spreads
 * keys over documents and names index entries, where a collision can only make a key look revoked.
 */
export function layoutHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

const bucketOf = (text: string, count: number) => parseInt(layoutHash(text).slice(0, 8), 16) % count;

/** Every KVS key and entity name Countersign uses. KVS keys allow [a-zA-Z0-9:._\s-#], so UUID braces are stripped. */
export const DOCUMENT_ENTITY = 'versioned-document';
export const CHALLENGE_ENTITY = 'challenge';

export const storageKeys = {
  policy: (repository: string) => `policy:${bareUuid(repository)}`,
  /** Every saved version, kept for good: statements name the version they were made under. */
  policyVersion: (repository: string, version: number) => `policyversion:${bareUuid(repository)}:${version}`,
  approvalBucket: (repository: string, pullRequest: number, bucket: number) => `approvals:${bareUuid(repository)}:${pullRequest}:${bucket}`,
  approvalBucketOf: (signer: string) => bucketOf(signer, APPROVAL_BUCKETS),
  /** One key's revocations (everywhere, or per repository), with who revoked it and when. */
  revocation: (accountId: string, keyId: string) => `revocation:${accountId}:${keyId}`,
  /**
   * The index the merge check reads: `revocationEntry` hashes, spread over fixed shards. Page 0 of each
   * shard is read with everything else; once it is full, entries go to overflow pages 1, 2, …, which
   * page 0 counts and the merge check then reads in a second round.
   */
  revokedShard: (shard: number, page = 0) => (page === 0 ? `revoked:${shard}` : `revoked:${shard}:${page}`),
  revokedShardOf: (entry: string) => bucketOf(entry, REVOCATION_SHARDS),
  key: (accountId: string, keyId: string) => `key:${accountId}:${keyId}`,
  keysOf: (accountId?: string) => (accountId ? `key:${accountId}:` : 'key:'),
  keyOwner: (keyId: string) => `keyowner:${keyId}`,
  /** Present once a decision in the repository used the key: the keys its evidence bundle's roster lists. */
  keyUse: (repository: string, accountId: string, keyId: string) => `keyuse:${bareUuid(repository)}:${accountId}:${keyId}`,
  keyUseOf: (repository: string) => `keyuse:${bareUuid(repository)}:`,
  challenge: (value: string) => `challenge:${value}`,
  /** Whether the repository's current policy asks for a commit status (with its workspace), so a revocation everywhere can find every status to re-evaluate. */
  statusReporting: (repository: string) => `statusreporting:${bareUuid(repository)}`,
  statusReportingAll: () => 'statusreporting:',
  /** The `countersign` status last posted on a pull request (commit, state, description). */
  postedStatus: (repository: string, pullRequest: number) => `prstatus:${bareUuid(repository)}:${pullRequest}`,
  /** The one auto-merge claimed for a pull request's head commit, and its outcome. */
  autoMerge: (repository: string, pullRequest: number) => `automerge:${bareUuid(repository)}:${pullRequest}`,
  /** Present once the pull request's merge is in the ledger. */
  mergeRecorded: (repository: string, pullRequest: number) => `merged:${bareUuid(repository)}:${pullRequest}`,
  /** The merge the ledger recorded that wrote a commit (`MergedCommit`), found by that commit. */
  mergedCommit: (repository: string, commit: string) => `mergedcommit:${bareUuid(repository)}:${commit}`,
  /** A deployment's one request (`deploymentId`: environment and commit), sealed. */
  deploymentRequest: (repository: string, deployment: string) => `deployrequest:${bareUuid(repository)}:${deployment}`,
  /** A copy of each request for the deployments page, under its state (moved when allowed), newest first by key (`order` counts down with time). */
  deploymentListing: (repository: string, state: string, order: string, deployment: string) => `deploylist:${bareUuid(repository)}:${state}:${order}:${deployment}`,
  deploymentListingOf: (repository: string, state: string) => `deploylist:${bareUuid(repository)}:${state}:`,
  deploymentBucket: (repository: string, deployment: string, bucket: number) => `deployapprovals:${bareUuid(repository)}:${deployment}:${bucket}`,
  deploymentBucketOf: (signer: string) => bucketOf(signer, DEPLOYMENT_BUCKETS),
  /** Present once the gate said yes to a pipeline for a deployment. */
  deploymentAllowed: (repository: string, deployment: string, pipeline: string) => `deployallowed:${bareUuid(repository)}:${deployment}:${bareUuid(pipeline)}`,
  /** Present once a deployment event Bitbucket reported is in the ledger (its delivery may repeat). */
  deploymentReport: (repository: string, report: string) => `deployreport:${bareUuid(repository)}:${report}`,
  /** The repository's ledger: its head (`{ seq, hash }`) and each entry by number, written once. */
  ledgerHead: (repository: string) => `ledger:${bareUuid(repository)}:head`,
  ledgerEntry: (repository: string, seq: number) => `ledger:${bareUuid(repository)}:${seq}`,
};
