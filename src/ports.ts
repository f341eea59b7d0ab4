import type { ChallengeClaim, ChallengeRecord, KeyRecord, Policy, PullRequestFacts, Revocation, StoredApproval, VerifiedCache } from './core';

/** Whether an (account, key) pair, as a `revocationId`, is revoked where the gate was loaded. */
export interface RevokedKeys {
  has(revocationId: string): boolean;
}

/** What the merge check and the PR card read together, in one storage round trip. */
export interface GateState {
  policy: Policy | undefined;
  /** Raw stored approvals: re-verified by the core before anything counts. */
  approvals: unknown[];
  /** (account, key) pairs revoked for this repository; see `revocationId`. */
  revokedKeys: RevokedKeys;
  /** Present when `loadGate` was asked for one key. */
  key?: KeyRecord;
}

export interface GateStore {
  loadGate(repository: string, pullRequest: number, options?: { key?: { accountId: string; keyId: string } }): Promise<GateState>;
  loadPolicy(repository: string): Promise<Policy | undefined>;
  /** A saved policy version, current or not; undefined if that version was never saved. */
  loadPolicyVersion(repository: string, version: number): Promise<Policy | undefined>;
  /**
   * Consumes the challenge and adds or replaces the signer's approval, both or neither, without losing
   * anyone else's however many sign at once. A refused challenge stores nothing and says what was found.
   */
  recordDecision(
    repository: string,
    pullRequest: number,
    approval: StoredApproval,
    challenge: { value: string; claim: ChallengeClaim; ttlSeconds: number },
  ): Promise<ChallengeOutcome>;
  /** Saves a new policy version and keeps it for good; throws CONFLICT if someone else saved since `expectedVersion`. */
  savePolicy(repository: string, policy: Policy, expectedVersion: number): Promise<void>;
}

export interface KeyStore {
  listKeys(accountId?: string): Promise<KeyRecord[]>;
  /** Every revocation of these keys, everywhere and per repository. */
  loadRevocations(keys: { accountId: string; keyId: string }[]): Promise<Revocation[]>;
  /** Stores a key; enrolling the same key twice returns the stored record unchanged. */
  enrollKey(record: KeyRecord): Promise<KeyRecord>;
  getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined>;
  revokeKey(revocation: Revocation): Promise<void>;
}

export type ChallengeOutcome = { consumed: true } | { consumed: false; found: unknown };

export interface ChallengeStore {
  issueChallenge(value: string, record: ChallengeRecord, ttlSeconds: number): Promise<void>;
  /**
   * Marks the challenge used if, and only if, it is live and matches the claim, in one conditional
   * write: of any number of racing callers exactly one succeeds. A refused claim changes nothing and
   * reports what was found, so the caller can say why.
   */
  consumeChallenge(value: string, claim: ChallengeClaim, ttlSeconds: number): Promise<ChallengeOutcome>;
}

export type RepositoryPermission = 'admin' | 'write' | 'read' | 'none';
export type BuildState = 'INPROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'STOPPED';

/** Whose rights a Bitbucket read uses: the app's (merge check), or the calling user's (anything a user asked for). */
export type Actor = 'app' | 'user';

export interface BitbucketPort {
  getPullRequest(workspace: string, repository: string, pullRequest: number, as: Actor): Promise<PullRequestFacts>;
  /** Ids of the repository's open pull requests, read as the app. */
  listOpenPullRequests(workspace: string, repository: string): Promise<number[]>;
  /** The calling user's permission on the repository, asked of Bitbucket as that user. */
  getMyPermission(workspace: string, repository: string): Promise<RepositoryPermission>;
  postBuildStatus(
    workspace: string,
    repository: string,
    commit: string,
    status: { state: BuildState; description: string; url: string },
  ): Promise<void>;
}

export interface Deps {
  gate: GateStore;
  keys: KeyStore;
  challenges: ChallengeStore;
  bitbucket: BitbucketPort;
  now: () => Date;
  randomToken: () => string;
  /** Approvals this process has already verified; see `VerifiedCache`. */
  verified: VerifiedCache;
}
