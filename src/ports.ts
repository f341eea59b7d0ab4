import type {
  ApprovalRecord,
  RosterKey,
  AutoMergeRecord,
  MergeStrategy,
  PostedStatus,
  AppPublicJwk,
  AppSigningKey,
  ChallengeClaim,
  ChallengeRecord,
  KeyRecord,
  LedgerEventOf,
  Policy,
  PullRequestFacts,
  Revocation,
  LedgerHead,
  SignedLedgerEntry,
  DeploymentRequest,
  DeploymentApprovalRecord,
  MergedCommit,
  DeploymentRef,
} from './core';
import type { JSONWebKeySet } from 'jose';

/** Whether an (account, key) pair, as a `revocationId`, is revoked where the gate was loaded. */
export interface RevokedKeys {
  has(revocationId: string): boolean;
}

/** A signer's decision in force, as storage holds it (its bucket's seal already checked). */
export interface StoredApproval {
  signer: string;
  record: ApprovalRecord;
}

/** What the merge check and the PR card read together, in one storage round trip. */
export interface GateState {
  policy: Policy | undefined;
  approvals: StoredApproval[];
  /** (account, key) pairs revoked for this repository; see `revocationId`. */
  revokedKeys: RevokedKeys;
  /** Present when `loadGate` was asked for one key. */
  key?: KeyRecord;
}

/** An accepted decision, as it is written: the signer's new position, its ledger event, and the challenge it spends. */
export interface DecisionWrite {
  repository: string;
  pullRequest: number;
  signer: string;
  record: Omit<ApprovalRecord, 'seq' | 'entry'>;
  event: LedgerEventOf;
  at: string;
  challenge: { value: string; claim: ChallengeClaim; ttlSeconds: number };
}

export type ChallengeOutcome = { consumed: true } | { consumed: false; found: unknown };

export interface GateStore {
  loadGate(repository: string, pullRequest: number, options?: { key?: { accountId: string; keyId: string } }): Promise<GateState>;
  /** The current policy (or, if its record was lost, the newest kept version). */
  loadPolicy(repository: string): Promise<Policy | undefined>;
  /** A saved policy version, current or not; undefined if that version was never saved. */
  loadPolicyVersion(repository: string, version: number): Promise<Policy | undefined>;
  /**
   * Consumes the challenge, makes the decision the signer's position and appends its ledger entry,
   * all or nothing, without losing anyone else's however many sign at once. A refused challenge
   * stores nothing and says what was found.
   */
  recordDecision(args: DecisionWrite): Promise<ChallengeOutcome>;
  /** Saves a new policy version, keeps it for good and records it in the ledger; throws CONFLICT if someone else saved since `expectedVersion`. */
  savePolicy(workspace: string, repository: string, policy: Policy, expectedVersion: number, previous: Policy | undefined): Promise<void>;
  /** The repositories whose current policy asks for a commit status somewhere. */
  statusRepositories(): Promise<{ workspace: string; repository: string }[]>;
}

/** What the gate and the deployments page read together about one deployment, in one storage round trip. */
export interface DeploymentState {
  policy: Policy | undefined;
  request?: DeploymentRequest;
  /** Each signer's deployment decision in force for this environment and commit (their bucket's seal checked). */
  approvals: { signer: string; record: DeploymentApprovalRecord }[];
  revokedKeys: RevokedKeys;
  /** The merge the ledger recorded that wrote this commit, if any. */
  merge?: MergedCommit;
  key?: KeyRecord;
}

/** An accepted deployment decision, as it is written (see `DecisionWrite`). */
export interface DeploymentDecisionWrite {
  repository: string;
  deployment: string;
  signer: string;
  record: Omit<DeploymentApprovalRecord, 'seq' | 'entry'>;
  event: LedgerEventOf;
  at: string;
  challenge: { value: string; claim: ChallengeClaim; ttlSeconds: number };
}

export interface DeploymentStore {
  /** The policy, the request, the approvals, revocations, the merge that wrote the commit and (when asked) one key: one batch, and the revocation index. */
  loadDeployment(repository: string, deployment: { environment: string; commit: string }, options?: { key?: { accountId: string; keyId: string } }): Promise<DeploymentState>;
  /**
   * Opens the deployment's one pending request with its ledger entry, in one conditional write: of any
   * number of racing gate calls exactly one opens it; the others get the request it opened.
   */
  openDeploymentRequest(repository: string, request: Omit<DeploymentRequest, 'entry' | 'state'>, event: LedgerEventOf): Promise<{ request: DeploymentRequest; opened: boolean }>;
  /** As `GateStore.recordDecision`, for a deployment: challenge, position and ledger entry in one transaction. */
  recordDeploymentDecision(args: DeploymentDecisionWrite): Promise<ChallengeOutcome>;
  /** Records the gate's yes for one pipeline (once per pipeline, with its ledger entry) and marks the request allowed. */
  recordDeploymentAllowed(repository: string, deployment: string, pipeline: string, at: string, event: LedgerEventOf): Promise<boolean>;
  /** Whether the gate said yes to this pipeline for this environment and commit (another pipeline's yes does not count). */
  wasAllowed(repository: string, deployment: string, pipeline: string): Promise<boolean>;
  /** An allowed request the gate now refuses, back to pending (sealed, its listing copy moved) so people can sign again; the request as it now is, undefined if none. */
  reopenDeploymentRequest(repository: string, deployment: string): Promise<DeploymentRequest | undefined>;
  /** The repository's deployment requests in one state, newest first (at most `limit`, up to one query page of 20): one KVS query. */
  listDeploymentRequests(repository: string, state: DeploymentRequest['state'], limit: number): Promise<DeploymentRequest[]>;
  /** Appends a deployment event Bitbucket reported, once per (deployment, state) however often it is delivered; false if already there. */
  recordDeploymentReport(repository: string, key: string, at: string, event: LedgerEventOf): Promise<boolean>;
}

/** A pipeline as Bitbucket describes it, read as the app. */
export interface PipelineFacts {
  uuid: string;
  buildNumber?: number;
  /** The full 40-hex commit it runs on. */
  commit: string;
  ref?: DeploymentRef;
  /** Who started it, where Bitbucket names an account. */
  creator?: string;
}

/** What the deployment gate asks Bitbucket, as the app: never anything a pipeline says of itself. */
export interface PipelinesPort {
  /**
   * The workspace's Pipelines OIDC issuer and its published keys, looked up by workspace UUID. `kid`:
   * the key a token names; when the keys at hand lack it, they are read again (Bitbucket rotated them).
   */
  getOidcTrust(workspace: string, kid?: string): Promise<{ issuer: string; keys: JSONWebKeySet }>;
  getPipeline(workspace: string, repository: string, pipeline: string): Promise<PipelineFacts>;
  /** The account of a commit's author, where Bitbucket maps the author to one. */
  getCommitAuthor(workspace: string, repository: string, commit: string): Promise<string | undefined>;
  /** A deployment environment by UUID; undefined if the repository has no such environment. */
  getEnvironment(workspace: string, repository: string, environment: string): Promise<{ uuid: string; name: string } | undefined>;
  /**
   * The commit a tag points at, or a branch's head, read as the app; undefined when the repository has
   * no such ref. Whoever starts a pipeline names its ref and commit freely, so the gate checks the ref.
   */
  getRefTarget(workspace: string, repository: string, ref: DeploymentRef): Promise<string | undefined>;
}

/** What re-evaluation keeps per pull request, read in one KVS batch. */
export interface PullRequestState {
  /** The status Countersign last posted (commit, state, description). */
  posted?: PostedStatus;
  /** The auto-merge claimed for a head commit, and how it went. */
  autoMerge?: AutoMergeRecord;
  /** Whether the merge is already in the ledger. */
  mergeRecorded: boolean;
}

export interface ReevaluationStore {
  loadPullRequestState(repository: string, pullRequest: number): Promise<PullRequestState>;
  notePostedStatus(repository: string, pullRequest: number, status: PostedStatus): Promise<void>;
  /**
   * Claims the one auto-merge of `record.commit`, with its ledger entry, in one conditional write: of any
   * number of racing re-evaluations exactly one gets true. A commit already claimed (merged or failed) gets false.
   */
  claimAutoMerge(workspace: string, repository: string, pullRequest: number, record: AutoMergeRecord, event: LedgerEventOf): Promise<boolean>;
  /** The claimed auto-merge's outcome, with its ledger entry (`automerge.failed`, or the merge record), in one transaction. */
  finishAutoMerge(repository: string, pullRequest: number, record: AutoMergeRecord, event: LedgerEventOf): Promise<void>;
  /** Appends the merge record once per pull request, however many events report the merge; false if it was already there. */
  recordMerge(repository: string, pullRequest: number, at: string, event: LedgerEventOf): Promise<boolean>;
}

/** A pull request to re-evaluate, or a repository whose open pull requests all should be. */
export type ReevaluationRequest =
  | { kind: 'pull-request'; workspace: string; repository: string; pullRequest: number; reason: string }
  | { kind: 'repository'; workspace: string; repository: string; reason: string };

/** The async queue (`@forge/events`) that spreads re-evaluations over consumer invocations. */
export interface ReevaluationQueue {
  enqueue(requests: ReevaluationRequest[]): Promise<void>;
}

export interface KeyStore {
  listKeys(accountId?: string): Promise<KeyRecord[]>;
  /** Every revocation of these keys, everywhere and per repository. */
  loadRevocations(keys: { accountId: string; keyId: string }[]): Promise<Revocation[]>;
  /** Stores a key, recorded in `ledger` (the repository it was enrolled from); the same key twice returns the stored record. */
  enrollKey(record: KeyRecord, ledger: string): Promise<KeyRecord>;
  getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined>;
  /** Changes a stored key's label, recorded in `ledger` in the same transaction; undefined when no such key is stored. */
  renameKey(accountId: string, keyId: string, label: string, at: string, ledger: string): Promise<KeyRecord | undefined>;
  /** Records a revocation, in `ledger` (the repository it was made from). */
  revokeKey(revocation: Revocation, ledger: string): Promise<void>;
}

export interface ChallengeStore {
  issueChallenge(value: string, record: ChallengeRecord, ttlSeconds: number): Promise<void>;
  /**
   * Marks the challenge used if, and only if, it is live and matches the claim, in one conditional
   * write: of any number of racing callers exactly one succeeds. A refused claim changes nothing and
   * reports what was found, so the caller can say why.
   */
  consumeChallenge(value: string, claim: ChallengeClaim, ttlSeconds: number): Promise<ChallengeOutcome>;
}

/** What an audit index finds entries by. */
export type AuditTerm =
  | { kind: 'all' }
  | { kind: 'type'; type: string }
  | { kind: 'pullRequest'; pullRequest: number }
  | { kind: 'person'; accountId: string }
  /** Entries naming more people than their transaction had room to index: `spilled` lists the rest. */
  | { kind: 'spill' };

/** One entry an audit index found: where it sorts, and what the page may filter on without reading it. */
export interface AuditHit {
  seq: number;
  order: string;
  type: string;
  pullRequest: number | null;
  spilled?: string[];
}

/** What the ledger head says about its indexes: entries from seq `from` on are indexed; `spills` entries named people beyond their index records (the newest at `lastSpill`). */
export interface AuditIndexState {
  from: number;
  spills: number;
  lastSpill: number;
}

export interface LedgerStore {
  /** The repository's whole ledger, oldest first. */
  readLedger(repository: string): Promise<SignedLedgerEntry[]>;
  /**
   * At most `count` entries from seq `fromSeq` on (oldest first, never past the head), with the head
   * as read in the same batch: one page of an export, so no call holds the whole ledger.
   */
  readLedgerRange(repository: string, fromSeq: number, count: number): Promise<{ head: LedgerHead | undefined; entries: SignedLedgerEntry[] }>;
  /**
   * Up to `count` entries, newest first, from seq `top` down (from the head when `top` is not given,
   * which costs one more read): one KVS batch per 25 entries, all sent at once. `top` is the seq the
   * page started from (0 for an empty ledger); entries missing from storage are left out.
   */
  readLedgerPage(repository: string, options: { top?: number; count: number }): Promise<{ top: number; entries: { seq: number; entry: SignedLedgerEntry }[] }>;
  /**
   * One page of an audit index, newest first: the entries found by `term` whose order (time, then seq)
   * lies within `low`…`high` (inclusive, either open), at most `limit` (1 to 100): one KVS query.
   */
  queryAuditIndex(repository: string, query: { term: AuditTerm; low?: string; high?: string; limit: number }): Promise<{ hits: AuditHit[]; more: boolean }>;
  /** The given entries (at most 24) and the head with what it keeps about the indexes, in one KVS batch. */
  readAuditEntries(repository: string, seqs: number[]): Promise<{ head: LedgerHead | undefined; indexes: AuditIndexState | undefined; entries: { seq: number; entry: SignedLedgerEntry }[] }>;
  /**
   * The keys the repository's decisions used, each with its enrolment entry and the revocations that
   * hold in the repository but another ledger recorded, and those entries of other ledgers: what an
   * evidence bundle's key roster lists and carries.
   */
  keyEvidence(repository: string): Promise<{ keys: RosterKey[]; events: SignedLedgerEntry[] }>;
  /** The public half of the key that countersigns ledger entries, and its RFC 7638 id. */
  appPublicKey(): Promise<{ keyId: string; publicJwk: AppPublicJwk }>;
  /** The same key, to sign what the app attests outside the ledger (verification summaries); non-extractable. */
  appSigningKey(): Promise<AppSigningKey>;
}

export type RepositoryPermission = 'admin' | 'write' | 'read' | 'none';
export type BuildState = 'INPROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'STOPPED';

/** A deployment environment as Bitbucket lists it (`deployment_environment`); `type` is its environment type's name (Test, Staging, Production). */
export interface DeploymentEnvironment {
  uuid: string;
  name: string;
  type?: string;
}

/** Whose rights a Bitbucket read uses: the app's (merge check), or the calling user's (anything a user asked for). */
export type Actor = 'app' | 'user';

export interface BitbucketPort {
  getPullRequest(workspace: string, repository: string, pullRequest: number, as: Actor): Promise<PullRequestFacts>;
  /** Ids of the repository's open pull requests, read as the app. */
  listOpenPullRequests(workspace: string, repository: string): Promise<number[]>;
  /** The calling user's own account (`GET /2.0/user`, asked as that user): who Bitbucket says is calling, and their display name. */
  getMyAccount(): Promise<{ accountId: string; displayName: string | undefined }>;
  /** The calling user's permission on the repository, asked of Bitbucket as that user. */
  getMyPermission(workspace: string, repository: string): Promise<RepositoryPermission>;
  postBuildStatus(
    workspace: string,
    repository: string,
    commit: string,
    status: { state: BuildState; description: string; url: string; refname?: string },
  ): Promise<void>;
  /** The pull request's state and head as Bitbucket abbreviates it (12 hex): one call, to confirm nothing moved before acting. */
  getHead(workspace: string, repository: string, pullRequest: number): Promise<{ state: PullRequestFacts['state']; commit: string }>;
  /** Merges as the app; a 202 is polled to its end within the time budget. */
  mergePullRequest(workspace: string, repository: string, pullRequest: number, strategy: MergeStrategy): Promise<MergeOutcome>;
  /** The repository's deployment environments, every page of them, in Bitbucket's order. */
  listEnvironments(workspace: string, repository: string, as: Actor): Promise<DeploymentEnvironment[]>;
  /** The full 40-hex hash of a commit named by a prefix (as Bitbucket abbreviates them), read as the app; no call when it is already full. */
  resolveCommit(workspace: string, repository: string, commit: string): Promise<string>;
}

/** `mergeCommit`: the commit the merge wrote, as the merge's answer names it (possibly abbreviated), when it names one. */
export type MergeOutcome = { kind: 'merged'; mergeCommit?: string } | { kind: 'failed'; reason: string } | { kind: 'pending' };

export interface Deps {
  gate: GateStore;
  keys: KeyStore;
  challenges: ChallengeStore;
  ledger: LedgerStore;
  reevaluation: ReevaluationStore;
  deployments: DeploymentStore;
  queue: ReevaluationQueue;
  bitbucket: BitbucketPort;
  pipelines: PipelinesPort;
  /** The deployment gate web trigger's URL (`countersign-deployment-gate`), which the pipelines provider writes into gated steps. */
  gateUrl: () => Promise<string>;
  now: () => Date;
  randomToken: () => string;
}
