import * as z from 'zod/mini';
import { EntryRef } from './keyRoster';
import { PublicJwk } from './publicKey';
import { AccountId, BitbucketUuid, KeyId, PullRequestId, UtcTimestamp } from './formats';

export const KeyLabel = z.string().check(z.trim(), z.minLength(1, 'Give this device a label'), z.maxLength(60, 'Labels are at most 60 characters'));

/** An approver's enrolled public key. Only its label changes once stored (renamed by its owner); revocation lives in the revocation list. */
export const KeyRecord = z.strictObject({
  keyId: KeyId,
  accountId: AccountId,
  publicKey: PublicJwk,
  label: KeyLabel,
  createdAt: UtcTimestamp,
  /** The ledger entry that enrolled it (kept since bundles carry keys from other ledgers). */
  entry: z.optional(EntryRef),
});
export type KeyRecord = z.infer<typeof KeyRecord>;

/**
 * A revoked key. Revoked by its owner it is revoked everywhere; revoked by a repository admin it is
 * revoked for that repository only, since admins of one repository do not speak for another.
 */
export const Revocation = z.strictObject({
  keyId: KeyId,
  accountId: AccountId,
  revokedAt: UtcTimestamp,
  revokedBy: AccountId,
  repository: z.optional(BitbucketUuid),
  /** The ledger entry that recorded it (kept since bundles carry keys from other ledgers). */
  entry: z.optional(EntryRef),
});
export type Revocation = z.infer<typeof Revocation>;

/** Revocations name an (account, key) pair, so a key enrolled under two accounts cannot be revoked for the other. */
export function revocationId(accountId: string, keyId: string): string {
  return `${accountId} ${keyId}`;
}

/** Whether a revocation holds in `repository`; with no repository given, only revocations that hold everywhere. */
export function revocationApplies(revocation: Revocation, repository?: string): boolean {
  return revocation.repository === undefined || revocation.repository === repository;
}

/** The (account, key) pairs revoked in `repository` (see `revocationApplies`), as `revocationId`s. */
export function revokedIn(revocations: Revocation[], repository?: string): Set<string> {
  return new Set(revocations.filter((r) => revocationApplies(r, repository)).map((r) => revocationId(r.accountId, r.keyId)));
}

/** A single-use nonce handed to one account for one pull request, or for one deployment (`deploymentId`). */
export const ChallengeRecord = z.strictObject({
  accountId: AccountId,
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  pullRequest: z.optional(PullRequestId),
  deployment: z.optional(z.string().check(z.regex(/^[0-9a-f-]{36}:[0-9a-f]{40}$/))),
  expiresAt: UtcTimestamp,
  consumed: z.boolean(),
});
export type ChallengeRecord = z.infer<typeof ChallengeRecord>;

/** How long a challenge may be used for. */
export const CHALLENGE_TTL_SECONDS = 600;
/** How long storage keeps a challenge: longer than it is usable, so a late answer hears "expired", not "unknown". */
export const CHALLENGE_RETENTION_SECONDS = CHALLENGE_TTL_SECONDS + 3600;
