import { Filter, FilterConditions, ForgeKvsAPIError, kvs, Sort, WhereConditions } from '@forge/kvs';
import * as z from 'zod/mini';
import {
  ApprovalRecord,
  auditFacts,
  bareUuid,
  ledgerTime,
  decodeBase64url,
  encodeBase64url,
  generateAppKey,
  hasValidSeal,
  INSTALLATION_LEDGER,
  importAppSigningKey,
  importSealKey,
  isUsableChallenge,
  KeyRecord,
  nextEntry,
  Policy,
  RequestError,
  Revocation,
  VerificationError,
  revocationId,
  sealOf,
  AppPrivateJwk,
  appKeyId,
  claimStands,
  entryRefId,
  revocationApplies,
  type AppPublicJwk,
  type EntryRef,
  type RosterKey,
  type AutoMergeRecord,
  type PostedStatus,
  type AppSigningKey,
  type ChallengeClaim,
  type ChallengeRecord,
  type LedgerEvent,
  type LedgerEventOf,
  type LedgerHead,
  type SignedLedgerEntry,
  deploymentId,
  DeploymentApprovalRecord,
  DeploymentRequest,
  MergedCommit,
  mergeToKeep,
} from '../core';
import type {
  AuditHit,
  AuditIndexState,
  AuditTerm,
  ChallengeOutcome,
  ChallengeStore,
  DecisionWrite,
  DeploymentDecisionWrite,
  DeploymentState,
  DeploymentStore,
  GateState,
  GateStore,
  KeyStore,
  LedgerStore,
  PullRequestState,
  ReevaluationStore,
  RevokedKeys,
  StoredApproval,
} from '../ports';
import { APPROVAL_BUCKETS, CHALLENGE_ENTITY, DEPLOYMENT_BUCKETS, DOCUMENT_ENTITY, layoutHash, REVOCATION_SHARDS, storageKeys } from './keys';
import { AUDIT_INDEX, AUDIT_INDEX_ENTITY, auditIndexWrites, isAuditMeta, MAX_TRANSACTION_OPS, termKey, type AuditIndexRecord, type AuditMeta } from './auditIndex';

/** A value updated by compare-and-set: `version` goes up by one with every write. Sealed where it guards a verdict. */
interface VersionedDocument<T> {
  version: number;
  document: T;
  seal?: string;
}

/** The ledger head's record: the head, and (from the first entry written with audit indexes on) what it keeps about them. */
interface HeadDocument extends VersionedDocument<LedgerHead> {
  audit?: AuditMeta;
}

/** The most entries `readAuditEntries` reads: with the head, one KVS batch. */
const AUDIT_BATCH = 24;
/** The most results one Custom Entity Store query page returns (Forge: a page limit between 1 and 100). */
const ENTITY_QUERY_PAGE = 100;

/** One bucket of a pull request's approvals: each signer's decision in force, by signer. */
type ApprovalsDocument = Record<string, ApprovalRecord>;
/** One key's revocations: everywhere, and per repository. */
type RevocationsDocument = Revocation[];

/** A key a decision in the repository used (`storageKeys.keyUse`). */
const KeyUse = z.strictObject({ accountId: z.string(), keyId: z.string() });
type KeyUse = z.infer<typeof KeyUse>;
/**
 * One page of a revocation index shard: the `revocationEntry` hashes present, 16 hex digits each, one
 * after another in one string (a page is rewritten and sealed with every revocation, and one string is
 * far cheaper to canonicalise, store and parse than thousands of object keys); page 0 also counts the
 * overflow pages. Pages written before that kept each entry as an object key (`{ [entry]: 1 }`): they
 * are read as they are and packed at their next write.
 */
interface RevokedPage {
  entries: string | Record<string, 1>;
  pages?: number;
}
const ENTRY_LENGTH = 16;
/** Entries in one index page: 128 KB, under KVS's 240 KiB. */
const PAGE_CAPACITY = 8000;

/** The entries of an index page, one by one, in either layout. */
function pageEntries(entries: RevokedPage['entries'] | undefined): string[] {
  if (entries === undefined) return [];
  if (typeof entries !== 'string') return Object.keys(entries);
  return Array.from({ length: Math.floor(entries.length / ENTRY_LENGTH) }, (_, i) => entries.slice(i * ENTRY_LENGTH, (i + 1) * ENTRY_LENGTH));
}

/** A page's entries packed as one string, whichever layout they were read in. */
function packedEntries(entries: RevokedPage['entries'] | undefined): string {
  return typeof entries === 'string' ? entries : pageEntries(entries).join('');
}

/** The app's own secrets, generated once per installation and kept in KVS secret storage. */
interface StoredSecrets {
  signing: AppPrivateJwk;
  seal: string;
}
export interface AppSecrets {
  signing: AppSigningKey;
  publicJwk: AppPublicJwk;
  seal: CryptoKey;
}

type Condition<T> = ReturnType<Filter<T>['and']>;

/** One write of a transaction. */
interface Write {
  key: string;
  value: unknown;
  entityName?: string;
  conditions?: Condition<any>;
  ttlSeconds?: number;
  /** Writes nothing: the transaction only requires `conditions` to hold on `key`. */
  checkOnly?: true;
  /** Deletes `key` instead of writing `value`. */
  remove?: true;
}

const MAX_WRITE_ATTEMPTS = 60;
/** The most results one KVS query page returns. */
const QUERY_PAGE = 20;

/** Whether a repository's current policy asks for a commit status: one record a repository, written with each policy save. */
const StatusReporting = z.object({ workspace: z.string(), repository: z.string(), commitStatus: z.boolean() });
type StatusReporting = z.infer<typeof StatusReporting>;
/** Keys in one KVS batch read. */
const BATCH = 25;
/** The most ledger entries one `readLedgerRange` reads. */
const MAX_RANGE = 1000;
const SECRETS_KEY = 'app-secrets';
/** Where version 1 kept every revocation, in one document. */
const LEGACY_REVOCATIONS = 'revocations';

/** Where a merge record's commit is indexed for the deployment gate; undefined when the record names no commit it wrote. */
function mergedCommitKey(repository: string, event: LedgerEventOf): string | undefined {
  return (event.type === 'merge.recorded' || event.type === 'merge.bypassed') && event.mergeCommit ? storageKeys.mergedCommit(repository, event.mergeCommit) : undefined;
}

/**
 * The index record of the merge that wrote a commit, sealed: it lets a deployment through. Of several
 * merges that wrote one commit (a fast-forward writes the head's hash again), `mergeToKeep` picks the
 * one that stands, as the evidence verifier does; a stored record whose seal fails is not replaced.
 */
async function mergedCommitWrites(seal: CryptoKey, key: string | undefined, found: (key: string) => unknown, event: LedgerEventOf, entry: number): Promise<Write[]> {
  if (!key || (event.type !== 'merge.recorded' && event.type !== 'merge.bypassed')) return [];
  // Events reach the store as their producers made them; one without facts (never made by this version) names no authors.
  const facts = (event as Partial<typeof event>).facts;
  const merged: MergedCommit = {
    pullRequest: event.subject.pullRequest,
    gated: event.verdict.gated,
    pass: event.verdict.pass,
    ...(event.merger ? { merger: event.merger } : {}),
    ...(facts ? { author: facts.author, commitAuthors: [...facts.commitAuthors].sort(), targetBranch: facts.targetBranch } : {}),
    entry,
  };
  const current = found(key) as VersionedDocument<MergedCommit> | undefined;
  if (current === undefined) return [await sealedWrite(seal, key, undefined, merged)];
  const stored = await openSealed<MergedCommit>(seal, key, current);
  const parsed = stored.intact && stored.document !== undefined ? MergedCommit.safeParse(stored.document) : undefined;
  if (!parsed?.success || mergeToKeep(parsed.data, merged) !== merged) return [];
  return [await sealedWrite(seal, key, current, merged)];
}

/** Sorts newer requests first under a key prefix: milliseconds left until the year 2286, zero-padded. */
function listingOrder(at: string): string {
  return String(9_999_999_999_999 - Date.parse(at)).padStart(13, '0');
}

function requestTampered(): RequestError {
  return new RequestError('STORAGE_ERROR', "This deployment's stored request was changed outside Countersign; contact your administrator.");
}

/** The index entry for a revocation of `accountId`'s key, everywhere (`repository` undefined) or in one repository. */
function revocationEntry(id: string, repository?: string): string {
  return layoutHash(`${id} ${repository ? bareUuid(repository) : '*'}`);
}

/**
 * Countersign's storage on Forge KVS; the only module that knows how things are laid out there.
 * Every change to current state is written in one transaction with the ledger entry that records it.
 */
export class KvsStore implements GateStore, KeyStore, ChallengeStore, LedgerStore, ReevaluationStore, DeploymentStore {
  private secrets?: Promise<AppSecrets>;
  private legacy?: Promise<void>;

  /** `pageCapacity`: entries per revocation index page (smaller only in tests of overflow). */
  constructor(private readonly options: { pageCapacity?: number } = {}) {}

  /** The app's signing and seal keys: read (or, the first time ever, made) once per warm container. */
  appSecrets(): Promise<AppSecrets> {
    this.secrets ??= loadSecrets().catch((error) => {
      this.secrets = undefined;
      throw error;
    });
    return this.secrets;
  }

  async appPublicKey(): Promise<{ keyId: string; publicJwk: AppPublicJwk }> {
    const { signing, publicJwk } = await this.appSecrets();
    return { keyId: signing.keyId, publicJwk };
  }

  async loadGate(repository: string, pullRequest: number, options: { key?: { accountId: string; keyId: string } } = {}): Promise<GateState> {
    const bucketKeys = Array.from({ length: APPROVAL_BUCKETS }, (_, b) => storageKeys.approvalBucket(repository, pullRequest, b));
    const { found, seal, policy, revokedKeys, key } = await this.readGuarded(repository, bucketKeys.map((key) => ({ key, entityName: DOCUMENT_ENTITY })), options.key);
    const buckets = await Promise.all(bucketKeys.map((key) => openSealed<ApprovalsDocument>(seal, key, found(key))));
    // A changed bucket could hide a rejection as easily as add an approval: nothing in it can be trusted.
    if (buckets.some((bucket) => !bucket.intact)) {
      throw new RequestError('STORAGE_ERROR', "This pull request's stored signatures were changed outside Countersign, so none can be trusted; contact your administrator.");
    }
    const approvals: StoredApproval[] = buckets.flatMap(({ document }) =>
      Object.entries(document ?? {}).flatMap(([signer, value]) => {
        const record = ApprovalRecord.safeParse(value);
        return record.success ? [{ signer, record: record.data }] : [];
      }),
    );
    return { policy, approvals, revokedKeys, ...(options.key ? { key } : {}) };
  }

  /**
   * The repository's policy and the revocation index (with, when asked, one key) read in one batch with
   * `extra`, seals checked: what every judgement of a signature starts from. Fails closed on a policy or
   * index changed outside Countersign.
   */
  private async readGuarded(repository: string, extra: { key: string; entityName?: string }[], wanted?: { accountId: string; keyId: string }) {
    const policyKey = storageKeys.policy(repository);
    // Version 1 exists for good once a policy was ever saved: with it, a lost current record fails closed.
    const firstPolicyKey = storageKeys.policyVersion(repository, 1);
    const shardKeys = Array.from({ length: REVOCATION_SHARDS }, (_, s) => storageKeys.revokedShard(s));
    const keyKey = wanted && storageKeys.key(wanted.accountId, wanted.keyId);
    // Accepting a signature needs every revocation, including any an earlier version kept.
    if (keyKey) await this.migrateLegacy();
    const [found, secrets] = await Promise.all([
      batchRead([
        { key: policyKey, entityName: DOCUMENT_ENTITY },
        { key: firstPolicyKey, entityName: DOCUMENT_ENTITY },
        ...extra,
        ...shardKeys.map((key) => ({ key, entityName: DOCUMENT_ENTITY })),
        ...(keyKey ? [{ key: keyKey }] : []),
      ]),
      this.appSecrets(),
    ]);

    const policyDoc = found(policyKey) as VersionedDocument<unknown> | undefined;
    const policyGuarded = policyDoc !== undefined || found(firstPolicyKey) !== undefined;
    if (!policyDoc && found(firstPolicyKey)) {
      throw new RequestError(
        'STORAGE_ERROR',
        "This repository's policy record is missing although a policy was saved before, so nothing can be approved; a repository admin should open Countersign settings and save the policy again.",
      );
    }
    // Once a policy exists, so does page 0 of every index shard (savePolicy makes them): a missing one was removed.
    if (policyGuarded && shardKeys.some((key) => found(key) === undefined)) throw indexTampered();
    const [policyIntact, shards] = await Promise.all([
      policyDoc ? openSealed(secrets.seal, policyKey, policyDoc).then((p) => p.intact) : true,
      this.revocationIndex(shardKeys.map(found), secrets.seal),
    ]);
    if (!policyIntact) throw policyTampered();
    const indexed = (entry: string) => shards[storageKeys.revokedShardOf(entry)]!.has(entry);
    const revokedKeys: RevokedKeys = { has: (id) => indexed(revocationEntry(id)) || indexed(revocationEntry(id, repository)) };
    return {
      found,
      seal: secrets.seal,
      policy: policyDoc ? toPolicy(policyDoc.document) : undefined,
      revokedKeys,
      key: keyKey ? toKeyRecord(found(keyKey)) : undefined,
    };
  }

  /** The current policy; should its record be lost, the newest kept version, so an admin can save it again. */
  async loadPolicy(repository: string): Promise<Policy | undefined> {
    const key = storageKeys.policy(repository);
    const doc = await readDocument<unknown>(key);
    if (doc) return this.sealedPolicy(key, doc);
    // Kept versions are numbered 1, 2, 3, … without gaps; read them a batch at a time to the last one.
    let newest: unknown;
    for (let first = 1; ; first += BATCH) {
      const items = Array.from({ length: BATCH }, (_, i) => ({ key: storageKeys.policyVersion(repository, first + i), entityName: DOCUMENT_ENTITY }));
      const found = await batchRead(items);
      const present = items.filter((item) => found(item.key) !== undefined);
      const last = present.at(-1);
      if (last) newest = await this.sealedPolicy(last.key, found(last.key) as VersionedDocument<unknown>);
      if (present.length < BATCH) return newest as Policy | undefined;
    }
  }

  async loadPolicyVersion(repository: string, version: number): Promise<Policy | undefined> {
    const key = storageKeys.policyVersion(repository, version);
    const doc = await readDocument<unknown>(key);
    return doc ? this.sealedPolicy(key, doc) : undefined;
  }

  /** A stored policy whose seal matches; a policy's own hash is no defence, since anyone can recompute it. */
  private async sealedPolicy(key: string, doc: VersionedDocument<unknown>): Promise<Policy | undefined> {
    if (!(await openSealed((await this.appSecrets()).seal, key, doc)).intact) throw policyTampered();
    return toPolicy(doc.document);
  }

  /**
   * The current record, the immutable copy of this version and the ledger entry, in one transaction.
   * The copy may be written only once, which is the compare-and-set: of two admins saving on one base
   * version, one wins; and a lost current record is simply written again by the next save.
   */
  async savePolicy(workspace: string, repository: string, policy: Policy, expectedVersion: number, previous: Policy | undefined): Promise<void> {
    if (policy.version !== expectedVersion + 1) throw new RequestError('CONFLICT', 'A policy must be saved as the version after the one it was edited from.');
    const { seal } = await this.appSecrets();
    const currentKey = storageKeys.policy(repository);
    const keptKey = storageKeys.policyVersion(repository, policy.version);
    const shardKeys = Array.from({ length: REVOCATION_SHARDS }, (_, s) => storageKeys.revokedShard(s));
    const statusKey = storageKeys.statusReporting(repository);
    const statusReporting: StatusReporting = { workspace, repository, commitStatus: policy.rules.some((rule) => rule.commitStatus) };
    const event: LedgerEventOf = { type: 'policy.saved', savedBy: policy.savedBy, previous: previous ? { version: previous.version, hash: previous.hash } : null, policy };
    const committed = await this.commit(
      repository,
      policy.savedAt,
      event,
      shardKeys,
      async (found) => [
        { key: statusKey, value: statusReporting },
        { key: currentKey, value: await sealedValue(seal, currentKey, policy.version, policy), entityName: DOCUMENT_ENTITY },
        { key: keptKey, value: await sealedValue(seal, keptKey, policy.version, policy), entityName: DOCUMENT_ENTITY, conditions: versionIs(0) },
        // From the first policy on, the merge check expects page 0 of every index shard to exist.
        ...(await Promise.all(shardKeys.filter((key) => found(key) === undefined).map((key) => sealedWrite(seal, key, undefined, { entries: '' })))),
      ],
      // A version already written stays written: that is someone else's save, not a race to retry.
      async () => (await readDocument(keptKey)) === undefined,
    );
    if (!committed) {
      throw new RequestError('CONFLICT', 'Someone else saved this policy while you were editing it; reload to see their version, then save again.');
    }
  }

  /**
   * Consumes the challenge, stores the decision as the signer's position and appends its ledger entry,
   * in one transaction: a refused or failed write consumes and stores nothing. The server's order
   * decides a signer's position (`seq`), never the time a device wrote into the statement.
   */
  async recordDecision(args: DecisionWrite): Promise<ChallengeOutcome> {
    const bucketKey = storageKeys.approvalBucket(args.repository, args.pullRequest, storageKeys.approvalBucketOf(args.signer));
    return this.recordPosition(args, bucketKey, "This pull request's stored signatures were changed outside Countersign; nothing was stored. Contact your administrator.");
  }

  /**
   * A decision as its signer's position in `bucketKey`, with the challenge it spends and its ledger
   * entry, in one transaction (a pull request's or a deployment's: the same write).
   */
  private async recordPosition(
    args: Pick<DecisionWrite, 'repository' | 'signer' | 'event' | 'at' | 'challenge'> & { record: { keyId: string } },
    bucketKey: string,
    tampered: string,
  ): Promise<ChallengeOutcome> {
    const { repository, signer, challenge } = args;
    const [challengeKey, used, conditions] = consumption(challenge.value, challenge.claim);
    const { seal } = await this.appSecrets();
    const revocationKey = storageKeys.revocation(signer, args.record.keyId);
    const keyUseKey = storageKeys.keyUse(repository, signer, args.record.keyId);
    const committed = await this.commit(repository, args.at, args.event, [bucketKey, revocationKey], async (found, head) => {
      const current = found(bucketKey) as VersionedDocument<Record<string, unknown>> | undefined;
      if (!(await openSealed(seal, bucketKey, current)).intact) throw new RequestError('STORAGE_ERROR', tampered);
      // A revocation that landed after the checks were made: the transaction below re-checks this record.
      const revocations = found(revocationKey) as VersionedDocument<RevocationsDocument> | undefined;
      if (revocations?.document.some((r) => r.repository === undefined || r.repository === repository)) {
        throw new VerificationError('KEY_REVOKED', 'This key was revoked while you were signing; enrol a new key on this device to sign.');
      }
      const document = { ...current?.document, [signer]: { ...args.record, seq: (current?.version ?? 0) + 1, entry: head.seq } };
      return [
        { key: revocationKey, value: undefined, entityName: DOCUMENT_ENTITY, conditions: versionIs(revocations?.version ?? 0), checkOnly: true },
        await sealedWrite(seal, bucketKey, current, document),
        { key: challengeKey, value: used, entityName: CHALLENGE_ENTITY, conditions, ttlSeconds: challenge.ttlSeconds },
        // Which keys the repository's decisions used, for its evidence bundle's key roster (written every time: it is the same value).
        { key: keyUseKey, value: { accountId: signer, keyId: args.record.keyId } satisfies KeyUse },
      ];
    }, async () => isUsableChallenge(await storage(() => kvs.entity<ChallengeRecord>(CHALLENGE_ENTITY).get(challengeKey)), challenge.claim));
    if (committed) return { consumed: true };
    return { consumed: false, found: await storage(() => kvs.entity<ChallengeRecord>(CHALLENGE_ENTITY).get(challengeKey)) };
  }


  // ——— Deployments ———

  async loadDeployment(repository: string, deployment: { environment: string; commit: string }, options: { key?: { accountId: string; keyId: string } } = {}): Promise<DeploymentState> {
    const id = deploymentId(deployment);
    const requestKey = storageKeys.deploymentRequest(repository, id);
    const mergedKey = storageKeys.mergedCommit(repository, deployment.commit);
    const bucketKeys = Array.from({ length: DEPLOYMENT_BUCKETS }, (_, b) => storageKeys.deploymentBucket(repository, id, b));
    const extra = [requestKey, mergedKey, ...bucketKeys].map((key) => ({ key, entityName: DOCUMENT_ENTITY }));
    const { found, seal, policy, revokedKeys, key } = await this.readGuarded(repository, extra, options.key);
    const [request, merged, ...buckets] = await Promise.all([
      openSealed<DeploymentRequest>(seal, requestKey, found(requestKey)),
      openSealed<MergedCommit>(seal, mergedKey, found(mergedKey)),
      ...bucketKeys.map((key) => openSealed<Record<string, unknown>>(seal, key, found(key))),
    ]);
    if (!request.intact || !merged.intact || buckets.some((bucket) => !bucket.intact)) {
      throw new RequestError('STORAGE_ERROR', "This deployment's stored request or signatures were changed outside Countersign, so none can be trusted; contact your administrator.");
    }
    const approvals = buckets.flatMap(({ document }) =>
      Object.entries(document ?? {}).flatMap(([signer, value]) => {
        const record = DeploymentApprovalRecord.safeParse(value);
        return record.success ? [{ signer, record: record.data }] : [];
      }),
    );
    const parsedRequest = request.document && DeploymentRequest.safeParse(request.document);
    const parsedMerge = merged.document && MergedCommit.safeParse(merged.document);
    return {
      policy,
      approvals,
      revokedKeys,
      ...(parsedRequest?.success ? { request: parsedRequest.data } : {}),
      ...(parsedMerge?.success ? { merge: parsedMerge.data } : {}),
      ...(options.key ? { key } : {}),
    };
  }

  /** A conditional create of the request and its listing copy, with the ledger entry: the first caller opens it, the rest read it. */
  async openDeploymentRequest(repository: string, fields: Omit<DeploymentRequest, 'entry' | 'state'>, event: LedgerEventOf): Promise<{ request: DeploymentRequest; opened: boolean }> {
    const key = storageKeys.deploymentRequest(repository, fields.id);
    const { seal } = await this.appSecrets();
    let outcome: { request: DeploymentRequest; opened: boolean } | undefined;
    await this.commit(repository, fields.requestedAt, event, [key], async (found, head) => {
      const current = found(key) as VersionedDocument<DeploymentRequest> | undefined;
      if (current) {
        if (!(await openSealed(seal, key, current)).intact) throw new RequestError('STORAGE_ERROR', "This deployment's stored request was changed outside Countersign; contact your administrator.");
        outcome = { request: current.document, opened: false };
        return 'done';
      }
      const request: DeploymentRequest = { ...fields, state: 'pending', entry: head.seq };
      outcome = { request, opened: true };
      return [await sealedWrite(seal, key, undefined, request), { key: storageKeys.deploymentListing(repository, 'pending', listingOrder(request.requestedAt), request.id), value: request }];
    });
    return outcome!;
  }

  async recordDeploymentDecision(args: DeploymentDecisionWrite): Promise<ChallengeOutcome> {
    const bucketKey = storageKeys.deploymentBucket(args.repository, args.deployment, storageKeys.deploymentBucketOf(args.signer));
    return this.recordPosition(args, bucketKey, "This deployment's stored signatures were changed outside Countersign; nothing was stored. Contact your administrator.");
  }


  /**
   * Once per pipeline: the allowance's ledger entry, its marker, and the request (with its listing copy)
   * marked allowed. A pipeline already allowed once asks again only when its request was reopened (it
   * lost its quorum since): then the new yes is recorded again and the request moves back to allowed.
   */
  async recordDeploymentAllowed(repository: string, deployment: string, pipeline: string, at: string, event: LedgerEventOf): Promise<boolean> {
    const markerKey = storageKeys.deploymentAllowed(repository, deployment, pipeline);
    const requestKey = storageKeys.deploymentRequest(repository, deployment);
    const { seal } = await this.appSecrets();
    let recorded = false;
    await this.commit(repository, at, event, [markerKey, requestKey], async (found) => {
      recorded = false;
      const current = found(requestKey) as VersionedDocument<DeploymentRequest> | undefined;
      if (current && !(await openSealed(seal, requestKey, current)).intact) throw requestTampered();
      const marked = found(markerKey) !== undefined;
      if (marked && (!current || current.document.state === 'allowed')) return 'done';
      recorded = true;
      // Sealed: the deployment events read it to tell an allowed deployment from one that ran without the gate's yes.
      const writes: Write[] = marked ? [] : [await sealedWrite(seal, markerKey, undefined, { at })];
      if (current && current.document.state !== 'allowed') {
        const request: DeploymentRequest = { ...current.document, state: 'allowed', allowedAt: at };
        writes.push(
          await sealedWrite(seal, requestKey, current, request),
          { key: storageKeys.deploymentListing(repository, 'pending', listingOrder(request.requestedAt), request.id), value: undefined, remove: true },
          // Keyed by when it was allowed: the page's "recently allowed" lists the latest allowances first.
          { key: storageKeys.deploymentListing(repository, 'allowed', listingOrder(at), request.id), value: request },
        );
      }
      return writes;
    });
    return recorded;
  }

  /**
   * An allowed request that the gate now refuses (a key revoked, a stricter policy) back to pending,
   * with its listing copy moved from the allowed to the pending listing, in one conditional write of
   * the sealed request: people can sign it again. No ledger entry: the gate's refusals are not ledger
   * events, and what took the quorum away (the revocation, the policy) already is one.
   */
  async reopenDeploymentRequest(repository: string, deployment: string): Promise<DeploymentRequest | undefined> {
    const requestKey = storageKeys.deploymentRequest(repository, deployment);
    const { seal } = await this.appSecrets();
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const found = await batchRead([{ key: requestKey, entityName: DOCUMENT_ENTITY }]);
      const current = found(requestKey) as VersionedDocument<DeploymentRequest> | undefined;
      if (!current) return undefined;
      if (!(await openSealed(seal, requestKey, current)).intact) throw requestTampered();
      if (current.document.state !== 'allowed') return current.document;
      const { allowedAt, ...rest } = current.document;
      const request: DeploymentRequest = { ...rest, state: 'pending' };
      try {
        await transact([
          await sealedWrite(seal, requestKey, current, request),
          // Its allowed copy is kept by when it was allowed, which every allowed request records.
          ...(allowedAt ? [{ key: storageKeys.deploymentListing(repository, 'allowed', listingOrder(allowedAt), request.id), value: undefined, remove: true } satisfies Write] : []),
          { key: storageKeys.deploymentListing(repository, 'pending', listingOrder(request.requestedAt), request.id), value: request },
        ]);
        return request;
      } catch (error) {
        if (!isConflict(error)) throw toStorageError(error);
        await backOff(attempt);
      }
    }
    throw new RequestError('CONFLICT', 'Too many changes are being saved in this repository at the same moment; try again in a few seconds.');
  }

  /** Whether the gate said yes to this very pipeline for the deployment (not merely to another pipeline of the same commit). */
  async wasAllowed(repository: string, deployment: string, pipeline: string): Promise<boolean> {
    const key = storageKeys.deploymentAllowed(repository, deployment, pipeline);
    const found = await batchRead([{ key, entityName: DOCUMENT_ENTITY }]);
    const marker = found(key);
    if (marker === undefined) return false;
    const { seal } = await this.appSecrets();
    if (!(await openSealed(seal, key, marker)).intact) {
      throw new RequestError('STORAGE_ERROR', "This deployment's record of the gate's yes was changed outside Countersign; contact your administrator.");
    }
    return true;
  }

  async listDeploymentRequests(repository: string, state: DeploymentRequest['state'], limit: number): Promise<DeploymentRequest[]> {
    const query = kvs.query().where('key', { condition: 'BEGINS_WITH', values: [storageKeys.deploymentListingOf(repository, state)] }).limit(Math.min(Math.max(limit, 1), QUERY_PAGE));
    const page = await storage(() => query.getMany<unknown>());
    return page.results.flatMap(({ value }) => {
      const parsed = DeploymentRequest.safeParse(value);
      return parsed.success ? [parsed.data] : [];
    });
  }

  async recordDeploymentReport(repository: string, report: string, at: string, event: LedgerEventOf): Promise<boolean> {
    const key = storageKeys.deploymentReport(repository, report);
    let recorded = false;
    await this.commit(repository, at, event, [key], (found) => {
      recorded = false;
      if (found(key) !== undefined) return 'done';
      recorded = true;
      return [{ key, value: { version: 1, document: { at } }, entityName: DOCUMENT_ENTITY, conditions: versionIs(0) }];
    });
    return recorded;
  }

  /** The last posted status, the auto-merge claim and the merge marker, in one batch. */
  async loadPullRequestState(repository: string, pullRequest: number): Promise<PullRequestState> {
    const postedKey = storageKeys.postedStatus(repository, pullRequest);
    const autoKey = storageKeys.autoMerge(repository, pullRequest);
    const mergedKey = storageKeys.mergeRecorded(repository, pullRequest);
    const found = await batchRead([{ key: postedKey }, { key: autoKey, entityName: DOCUMENT_ENTITY }, { key: mergedKey, entityName: DOCUMENT_ENTITY }]);
    const posted = found(postedKey) as PostedStatus | undefined;
    const autoMerge = (found(autoKey) as VersionedDocument<AutoMergeRecord> | undefined)?.document;
    return { ...(posted ? { posted } : {}), ...(autoMerge ? { autoMerge } : {}), mergeRecorded: found(mergedKey) !== undefined };
  }

  async notePostedStatus(repository: string, pullRequest: number, status: PostedStatus): Promise<void> {
    await storage(() => kvs.set(storageKeys.postedStatus(repository, pullRequest), status));
  }

  /** A compare-and-set on the pull request's auto-merge record, with the ledger entry: one claim per head commit. */
  async claimAutoMerge(_workspace: string, repository: string, pullRequest: number, record: AutoMergeRecord, event: LedgerEventOf): Promise<boolean> {
    const key = storageKeys.autoMerge(repository, pullRequest);
    let claimed = false;
    await this.commit(repository, record.at, event, [key], (found) => {
      const current = found(key) as VersionedDocument<AutoMergeRecord> | undefined;
      claimed = false;
      // One claim a commit, unless it was left unfinished for so long that it is taken as lost.
      if (current?.document.commit === record.commit && claimStands(current.document, new Date(record.at))) return 'done';
      claimed = true;
      const version = (current?.version ?? 0) + 1;
      return [{ key, value: { version, document: record }, entityName: DOCUMENT_ENTITY, conditions: versionIs(current?.version ?? 0) }];
    });
    return claimed;
  }

  async finishAutoMerge(repository: string, pullRequest: number, record: AutoMergeRecord, event: LedgerEventOf): Promise<void> {
    const key = storageKeys.autoMerge(repository, pullRequest);
    const mergedKey = storageKeys.mergeRecorded(repository, pullRequest);
    const commitKey = mergedCommitKey(repository, event);
    const { seal } = await this.appSecrets();
    await this.commit(repository, record.at, event, [key, mergedKey, ...(commitKey ? [commitKey] : [])], async (found, head) => {
      const current = found(key) as VersionedDocument<AutoMergeRecord> | undefined;
      // Only the claim this outcome belongs to is finished; a newer claim (a later commit) is left alone.
      if (current?.document.commit !== record.commit || current.document.state !== 'attempting') return 'done';
      const merged = record.state === 'merged';
      if (merged && found(mergedKey) !== undefined) return 'done';
      return [
        { key, value: { version: current.version + 1, document: record }, entityName: DOCUMENT_ENTITY, conditions: versionIs(current.version) },
        ...(merged ? [{ key: mergedKey, value: { version: 1, document: { at: record.at } }, entityName: DOCUMENT_ENTITY, conditions: versionIs(0) }] : []),
        ...(merged ? await mergedCommitWrites(seal, commitKey, found, event, head.seq) : []),
      ];
    });
  }

  async recordMerge(repository: string, pullRequest: number, at: string, event: LedgerEventOf): Promise<boolean> {
    const key = storageKeys.mergeRecorded(repository, pullRequest);
    const commitKey = mergedCommitKey(repository, event);
    const { seal } = await this.appSecrets();
    let recorded = false;
    await this.commit(repository, at, event, [key, ...(commitKey ? [commitKey] : [])], async (found, head) => {
      recorded = false;
      if (found(key) !== undefined) return 'done';
      recorded = true;
      return [
        { key, value: { version: 1, document: { at } }, entityName: DOCUMENT_ENTITY, conditions: versionIs(0) },
        ...(await mergedCommitWrites(seal, commitKey, found, event, head.seq)),
      ];
    });
    return recorded;
  }

  /** One record per repository with a policy, so the list has no size limit; read a query page at a time. */
  async statusRepositories(): Promise<{ workspace: string; repository: string }[]> {
    const found: { workspace: string; repository: string }[] = [];
    let cursor: string | undefined;
    do {
      let query = kvs.query().where('key', { condition: 'BEGINS_WITH', values: [storageKeys.statusReportingAll()] }).limit(QUERY_PAGE);
      if (cursor) query = query.cursor(cursor);
      const page = await storage(() => query.getMany<unknown>());
      for (const result of page.results) {
        const record = StatusReporting.safeParse(result.value);
        if (record.success && record.data.commitStatus) found.push({ workspace: record.data.workspace, repository: record.data.repository });
      }
      cursor = page.nextCursor;
    } while (cursor);
    return found;
  }

  async listKeys(accountId?: string): Promise<KeyRecord[]> {
    const records: KeyRecord[] = [];
    for (const value of await valuesBeginningWith(storageKeys.keysOf(accountId))) {
      const record = toKeyRecord(value);
      // The prefix `key:<id>:` also matches accounts whose ID merely starts with `<id>:`.
      if (record && (accountId === undefined || record.accountId === accountId)) records.push(record);
    }
    return records;
  }

  /**
   * For an evidence bundle's key roster: every key the repository's decisions used, with the entry that
   * enrolled it and the revocations holding in the repository that another ledger recorded (those in
   * its own ledger are in the bundle already), and those entries of other ledgers, as stored.
   * One query per 20 keys, then two batches.
   */
  async keyEvidence(repository: string): Promise<{ keys: RosterKey[]; events: SignedLedgerEntry[] }> {
    const used = (await valuesBeginningWith(storageKeys.keyUseOf(repository))).flatMap((value) => {
      const parsed = KeyUse.safeParse(value);
      return parsed.success ? [parsed.data] : [];
    });
    const items = used.flatMap((u) => [{ key: storageKeys.key(u.accountId, u.keyId) }, { key: storageKeys.revocation(u.accountId, u.keyId), entityName: DOCUMENT_ENTITY }]);
    const found = await batchRead(items);
    const refs = new Map<string, EntryRef>();
    const keys = used.map(({ accountId, keyId }): RosterKey => {
      const enrolment = toKeyRecord(found(storageKeys.key(accountId, keyId)))?.entry ?? null;
      const revocations = ((found(storageKeys.revocation(accountId, keyId)) as VersionedDocument<RevocationsDocument> | undefined)?.document ?? []).filter(
        // One recorded before entries were kept, for this repository alone, is in this ledger; one everywhere may be anywhere.
        (r) => revocationApplies(r, repository) && (r.entry ? r.entry.ledger !== repository : r.repository === undefined),
      );
      for (const ref of [enrolment, ...revocations.map((r) => r.entry)]) if (ref && ref.ledger !== repository) refs.set(entryRefId(ref), ref);
      return { accountId, keyId, enrolment, revocations: revocations.map((r) => ({ revokedAt: r.revokedAt, entry: r.entry ?? null })) };
    });
    const entryKey = (ref: EntryRef) => storageKeys.ledgerEntry(ref.ledger, ref.seq);
    const entries = await batchRead([...refs.values()].map((ref) => ({ key: entryKey(ref), entityName: DOCUMENT_ENTITY })));
    const events = [...refs.values()].flatMap((ref) => {
      const doc = entries(entryKey(ref)) as VersionedDocument<SignedLedgerEntry> | undefined;
      return doc ? [doc.document] : [];
    });
    return { keys, events };
  }

  async loadRevocations(keys: { accountId: string; keyId: string }[]): Promise<Revocation[]> {
    await this.migrateLegacy();
    if (keys.length === 0) return [];
    const items = keys.map((k) => ({ key: storageKeys.revocation(k.accountId, k.keyId), entityName: DOCUMENT_ENTITY }));
    const found = await batchRead(items);
    return items.flatMap((item) => (found(item.key) as VersionedDocument<RevocationsDocument> | undefined)?.document ?? []);
  }

  /** Stores a key with its ledger entry (in the repository it was enrolled from); the same key twice returns the stored record. */
  async enrollKey(record: KeyRecord, ledger: string): Promise<KeyRecord> {
    const key = storageKeys.key(record.accountId, record.keyId);
    // Only the enrolment that claimed the key id writes the record, so two at once cannot both write.
    if (!(await claimKeyId(record))) {
      const existing = toKeyRecord(await storage(() => kvs.get(key)));
      if (existing) return existing;
      throw new RequestError('CONFLICT', 'This key is being enrolled by another request right now; try again in a moment.');
    }
    const event: LedgerEventOf = { type: 'key.enrolled', accountId: record.accountId, keyId: record.keyId, publicKey: record.publicKey, label: record.label };
    let stored: KeyRecord = record;
    await this.commit(ledger, record.createdAt, event, [], (_found, head) => {
      stored = { ...record, entry: { ledger, seq: head.seq, hash: head.hash } };
      return [{ key, value: stored }];
    });
    return stored;
  }

  async getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined> {
    return toKeyRecord(await storage(() => kvs.get(storageKeys.key(accountId, keyId))));
  }

  /**
   * The new label and its ledger entry in one transaction. The record is read again on each attempt,
   * so the entry's `previousLabel` is the label the write replaced; renaming to the same label writes nothing.
   */
  async renameKey(accountId: string, keyId: string, label: string, at: string, ledger: string): Promise<KeyRecord | undefined> {
    const key = storageKeys.key(accountId, keyId);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const current = toKeyRecord(await storage(() => kvs.get(key)));
      if (!current) return undefined;
      if (current.label === label) return current;
      const renamed: KeyRecord = { ...current, label };
      const event: LedgerEventOf = { type: 'key.renamed', accountId, keyId, label, previousLabel: current.label };
      let changed = false;
      await this.commit(ledger, at, event, [], async () => {
        // Read once more inside the attempt: a rename that landed meanwhile must not be recorded as replaced by this one's stale view.
        const now = toKeyRecord(await storage(() => kvs.get(key)));
        if (now?.label !== current.label) return 'done';
        changed = true;
        return [{ key, value: renamed }];
      });
      if (changed) return renamed;
    }
    throw new RequestError('CONFLICT', 'This key is being renamed by another request right now; try again in a moment.');
  }

  /**
   * The key's record of revocations, the merge check's index and the ledger entry, in one transaction.
   * The index entry goes to its shard's last page; a full page starts the next, so none is ever refused.
   */
  async revokeKey(revocation: Revocation, ledger: string): Promise<void> {
    await this.migrateLegacy();
    await this.recordRevocation(revocation, ledger);
  }

  private async recordRevocation(revocation: Revocation, ledger: string): Promise<void> {
    const entry = revocationEntry(revocationId(revocation.accountId, revocation.keyId), revocation.repository);
    const recordKey = storageKeys.revocation(revocation.accountId, revocation.keyId);
    const shard = storageKeys.revokedShardOf(entry);
    const firstKey = storageKeys.revokedShard(shard);
    const { seal } = await this.appSecrets();
    const event: LedgerEventOf = {
      type: 'key.revoked',
      accountId: revocation.accountId,
      keyId: revocation.keyId,
      revokedBy: revocation.revokedBy,
      scope: revocation.repository ? 'repository' : 'everywhere',
    };
    // Which page is last is only known from page 0, so it is read first and checked again in the write.
    let pages = 0;
    const keys = async () => {
      pages = ((await readDocument<RevokedPage>(firstKey))?.document.pages ?? 0);
      return [recordKey, firstKey, ...(pages > 0 ? [storageKeys.revokedShard(shard, pages)] : [])];
    };
    await this.commit(ledger, revocation.revokedAt, event, keys, async (found, head) => {
      const record = found(recordKey) as VersionedDocument<RevocationsDocument> | undefined;
      const first = found(firstKey) as VersionedDocument<RevokedPage> | undefined;
      if ((first?.document.pages ?? 0) !== pages) return 'again';
      const lastKey = storageKeys.revokedShard(shard, pages);
      const last = found(lastKey) as VersionedDocument<RevokedPage> | undefined;
      // The record and the index entry are written together, so the record alone says it is done.
      if (record?.document.some((r) => r.repository === revocation.repository)) return 'done';
      for (const [key, doc] of lastKey === firstKey ? [[firstKey, first] as const] : ([[firstKey, first], [lastKey, last]] as const)) {
        if (!(await openSealed(seal, key, doc)).intact) throw indexTampered();
      }
      const full = pageEntries(last?.document.entries).length >= (this.options.pageCapacity ?? PAGE_CAPACITY);
      const writes: Write[] = [
        {
          key: recordKey,
          value: { version: (record?.version ?? 0) + 1, document: [...(record?.document ?? []), { ...revocation, entry: { ledger, ...head } }] },
          entityName: DOCUMENT_ENTITY,
          conditions: versionIs(record?.version ?? 0),
        },
      ];
      if (!full) {
        writes.push(await sealedWrite(seal, lastKey, last, { ...last?.document, entries: packedEntries(last?.document.entries) + entry }));
        return writes;
      }
      // This page is full: open the next one with the entry, and count it on page 0.
      const nextKey = storageKeys.revokedShard(shard, pages + 1);
      writes.push(await sealedWrite(seal, nextKey, undefined, { entries: entry }));
      const firstNow = lastKey === firstKey ? last : first;
      writes.push(await sealedWrite(seal, firstKey, firstNow, { entries: packedEntries(firstNow?.document.entries), pages: pages + 1 }));
      return writes;
    });
  }

  /**
   * The revocation index, each shard as its pages of entries: page 0 of every shard from the merge
   * check's batch, and overflow pages, if there are any, read now in one more round. A page whose seal
   * does not match fails closed: a removed entry would otherwise bring a revoked key back.
   */
  private async revocationIndex(firstPages: unknown[], seal: CryptoKey): Promise<Set<string>[]> {
    const opened = await Promise.all(firstPages.map((doc, shard) => openSealed<RevokedPage>(seal, storageKeys.revokedShard(shard), doc)));
    const overflow = opened.flatMap((page, shard) => Array.from({ length: page.document?.pages ?? 0 }, (_, i) => storageKeys.revokedShard(shard, i + 1)));
    const found = overflow.length ? await batchRead(overflow.map((key) => ({ key, entityName: DOCUMENT_ENTITY }))) : () => undefined;
    const more = await Promise.all(overflow.map(async (key) => ({ key, ...(await openSealed<RevokedPage>(seal, key, found(key))) })));
    if ([...opened, ...more].some((page) => !page.intact) || more.some((page) => !page.document)) throw indexTampered();
    return opened.map((page, shard) => new Set([
      page.document?.entries,
      ...more.filter((m) => m.key.startsWith(`${storageKeys.revokedShard(shard)}:`)).map((m) => m.document!.entries),
    ].flatMap(pageEntries)));
  }

  /**
   * Version 1 kept one installation-wide revocation list under `revocations`. It is moved into the
   * v2 index once (each revocation recorded in the ledger of its repository, or of the installation),
   * before anything reads revocations to accept a signature or enrol a key, and then deleted.
   */
  private migrateLegacy(): Promise<void> {
    this.legacy ??= (async () => {
      const doc = await readDocument<unknown>(LEGACY_REVOCATIONS);
      if (!doc) return;
      const parsed = z.array(Revocation).safeParse(doc.document);
      if (!parsed.success) throw new RequestError('STORAGE_ERROR', 'The revocation list kept by an earlier version of Countersign is unreadable; contact Countersign support.');
      for (const revocation of parsed.data) await this.recordRevocation(revocation, revocation.repository ?? INSTALLATION_LEDGER);
      // Deleted only as it was read: one added meanwhile (by an older container) means running again.
      await kvs.transact().delete(LEGACY_REVOCATIONS, { entityName: DOCUMENT_ENTITY, conditions: versionIs(doc.version) }).execute().catch((error: unknown) => {
        if (!isConflict(error)) throw toStorageError(error);
        throw new RequestError('CONFLICT', 'Revocations kept by an earlier version changed while they were being moved; try again.');
      });
    })().catch((error) => {
      this.legacy = undefined;
      throw error;
    });
    return this.legacy;
  }

  async issueChallenge(value: string, record: ChallengeRecord, ttlSeconds: number): Promise<void> {
    await storage(() => kvs.entity<ChallengeRecord>(CHALLENGE_ENTITY).set(storageKeys.challenge(value), record, { ttl: { value: ttlSeconds, unit: 'SECONDS' } }));
  }

  async consumeChallenge(value: string, claim: ChallengeClaim, ttlSeconds: number): Promise<ChallengeOutcome> {
    const [key, used, conditions] = consumption(value, claim);
    try {
      await kvs
        .transact()
        .set(key, used, { entityName: CHALLENGE_ENTITY, conditions }, { ttl: { value: ttlSeconds, unit: 'SECONDS' } })
        .execute();
      return { consumed: true };
    } catch (error) {
      if (!isConflict(error)) throw toStorageError(error);
      return { consumed: false, found: await storage(() => kvs.entity<ChallengeRecord>(CHALLENGE_ENTITY).get(key)) };
    }
  }

  /** The repository's whole ledger, oldest first, read in concurrent batches once the head is known. */
  async readLedger(repository: string): Promise<SignedLedgerEntry[]> {
    const head = (await readDocument<LedgerHead>(storageKeys.ledgerHead(repository)))?.document;
    if (!head) return [];
    const items = Array.from({ length: head.seq }, (_, i) => ({ key: storageKeys.ledgerEntry(repository, i + 1), entityName: DOCUMENT_ENTITY }));
    const found = await batchRead(items);
    return items.flatMap((item) => {
      const doc = found(item.key) as VersionedDocument<SignedLedgerEntry> | undefined;
      return doc ? [doc.document] : [];
    });
  }

  async readLedgerPage(repository: string, options: { top?: number; count: number }): Promise<{ top: number; entries: { seq: number; entry: SignedLedgerEntry }[] }> {
    const { count } = options;
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_RANGE || (options.top !== undefined && (!Number.isSafeInteger(options.top) || options.top < 0))) {
      throw new RequestError('INTERNAL', `A ledger page is read downwards from a seq of 0 or more, 1 to ${MAX_RANGE} entries at a time.`);
    }
    const top = options.top ?? (await readDocument<LedgerHead>(storageKeys.ledgerHead(repository)))?.document.seq ?? 0;
    const seqs = Array.from({ length: Math.max(0, Math.min(options.count, top)) }, (_, i) => top - i);
    if (seqs.length === 0) return { top, entries: [] };
    const found = await batchRead(seqs.map((seq) => ({ key: storageKeys.ledgerEntry(repository, seq), entityName: DOCUMENT_ENTITY })));
    return {
      top,
      entries: seqs.flatMap((seq) => {
        const doc = found(storageKeys.ledgerEntry(repository, seq)) as VersionedDocument<SignedLedgerEntry> | undefined;
        return doc ? [{ seq, entry: doc.document }] : [];
      }),
    };
  }

  async queryAuditIndex(repository: string, query: { term: AuditTerm; low?: string; high?: string; limit: number }): Promise<{ hits: AuditHit[]; more: boolean }> {
    const { low, high, limit } = query;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > ENTITY_QUERY_PAGE) {
      throw new RequestError('INTERNAL', `An audit index is read 1 to ${ENTITY_QUERY_PAGE} records at a time.`);
    }
    let search = kvs.entity<AuditIndexRecord>(AUDIT_INDEX_ENTITY).query().index(AUDIT_INDEX, { partition: [termKey(repository, query.term)] });
    if (low !== undefined && high !== undefined) search = search.where(WhereConditions.between(low, high));
    else if (low !== undefined) search = search.where(WhereConditions.greaterThanEqualTo(low));
    else if (high !== undefined) search = search.where(WhereConditions.lessThanEqualTo(high));
    const page = await storage(() => search.sort(Sort.DESC).limit(limit).getMany());
    const hits = page.results.flatMap(({ value }): AuditHit[] => {
      if (!value || typeof value.order !== 'string' || !Number.isSafeInteger(value.seq)) return [];
      const { type, pr, spilled } = value.facets ?? {};
      return [{ seq: value.seq, order: value.order, type: String(type), pullRequest: typeof pr === 'number' ? pr : null, ...(Array.isArray(spilled) ? { spilled } : {}) }];
    });
    return { hits, more: page.nextCursor !== undefined };
  }

  async readAuditEntries(repository: string, seqs: number[]): Promise<{ head: LedgerHead | undefined; indexes: AuditIndexState | undefined; entries: { seq: number; entry: SignedLedgerEntry }[] }> {
    if (seqs.length > AUDIT_BATCH || seqs.some((seq) => !Number.isSafeInteger(seq) || seq < 1)) {
      throw new RequestError('INTERNAL', `Audit entries are read at most ${AUDIT_BATCH} at a time (with the head, one KVS batch), by seq from 1.`);
    }
    const headKey = storageKeys.ledgerHead(repository);
    const found = await batchRead([headKey, ...seqs.map((seq) => storageKeys.ledgerEntry(repository, seq))].map((key) => ({ key, entityName: DOCUMENT_ENTITY })));
    const headDoc = found(headKey) as HeadDocument | undefined;
    const meta = isAuditMeta(headDoc?.audit) ? headDoc.audit : undefined;
    return {
      head: headDoc?.document,
      indexes: meta && { from: meta.from, spills: meta.spills, lastSpill: meta.lastSpill },
      entries: seqs.flatMap((seq) => {
        const doc = found(storageKeys.ledgerEntry(repository, seq)) as VersionedDocument<SignedLedgerEntry> | undefined;
        return doc ? [{ seq, entry: doc.document }] : [];
      }),
    };
  }

  /**
   * Up to `count` entries from `fromSeq`, read in one batch with the head (KVS batches of 25 keys):
   * entries past the head read in that batch are left out, so a page never runs ahead of its head.
   */
  async readLedgerRange(repository: string, fromSeq: number, count: number): Promise<{ head: LedgerHead | undefined; entries: SignedLedgerEntry[] }> {
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1 || !Number.isSafeInteger(count) || count < 1 || count > MAX_RANGE) {
      throw new RequestError('INTERNAL', `A ledger page is read from seq 1 on, 1 to ${MAX_RANGE} entries at a time.`);
    }
    const headKey = storageKeys.ledgerHead(repository);
    const keys = Array.from({ length: count }, (_, i) => storageKeys.ledgerEntry(repository, fromSeq + i));
    const found = await batchRead([headKey, ...keys].map((key) => ({ key, entityName: DOCUMENT_ENTITY })));
    const head = (found(headKey) as VersionedDocument<LedgerHead> | undefined)?.document;
    if (!head) {
      // Entries without a head: the head was removed, and an export would say the ledger is empty.
      if (keys.some((key) => found(key) !== undefined)) {
        throw new RequestError('STORAGE_ERROR', "This repository's ledger has entries but no head record, so it cannot be exported as it is; contact Countersign support.");
      }
      return { head: undefined, entries: [] };
    }
    // The batches go out together, so one may have been read before an entry the head (read in another)
    // already counts was written: an entry missing below the head is asked for once more before an
    // export calls the ledger broken. Entries never disappear once committed, so a second miss is real.
    const wanted = keys.filter((_, i) => fromSeq + i <= head.seq);
    const missing = wanted.filter((key) => found(key) === undefined);
    const again = missing.length > 0 ? await batchRead(missing.map((key) => ({ key, entityName: DOCUMENT_ENTITY }))) : undefined;
    const entries: SignedLedgerEntry[] = [];
    for (const key of wanted) {
      const doc = (found(key) ?? again?.(key)) as VersionedDocument<SignedLedgerEntry> | undefined;
      if (doc) entries.push(doc.document);
    }
    return { head, entries };
  }

  async appSigningKey(): Promise<AppSigningKey> {
    return (await this.appSecrets()).signing;
  }

  /**
   * Reads `keys` and the ledger head, asks `writes` what to change, and commits those writes with the
   * next ledger entry in one transaction; on a lost race, reads again. `writes` may answer 'done' when
   * nothing is left to do, or 'again' when what was read has already changed. Returns false when the transaction was refused and `retry` says not to try
   * again (a condition that will not come true by itself, such as a spent challenge).
   * The same transaction writes the entry's audit index records (in the operations `writes` leaves of
   * KVS's 25) and the head's note of them; the entry's time is chosen on each attempt, never before
   * the previous entry's (see `ledgerTime`).
   */
  private async commit(
    ledger: string,
    at: string,
    event: LedgerEventOf,
    keys: string[] | (() => Promise<string[]>),
    writes: (found: (key: string) => unknown, head: LedgerHead) => Write[] | 'done' | 'again' | Promise<Write[] | 'done' | 'again'>,
    retry: () => Promise<boolean> = async () => true,
  ): Promise<boolean> {
    const headKey = storageKeys.ledgerHead(ledger);
    const { signing } = await this.appSecrets();
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const keysNow = typeof keys === 'function' ? await keys() : keys;
      const found = await batchRead([headKey, ...keysNow].map((key) => ({ key, entityName: DOCUMENT_ENTITY })));
      const headDoc = found(headKey) as HeadDocument | undefined;
      const previous = isAuditMeta(headDoc?.audit) ? headDoc.audit : undefined;
      // Chosen again on every attempt, after the head it follows: never before the entry it extends.
      const entryAt = ledgerTime(at, previous?.at);
      const entry = await nextEntry(headDoc?.document, { ledger, at: entryAt, event: event as unknown as LedgerEvent }, signing);
      const head: LedgerHead = { seq: (headDoc?.document.seq ?? 0) + 1, hash: entry.hash };
      const planned = await writes(found, head);
      if (planned === 'done') return true;
      if (planned === 'again') continue;
      // The audit indexes of the entry, in what the transaction leaves after the change, its head and its entry.
      const index = auditIndexWrites(ledger, head.seq, entryAt, auditFacts(event), MAX_TRANSACTION_OPS - planned.length - 2, previous);
      const headValue: HeadDocument = { version: head.seq, document: head, audit: index.meta };
      const all: Write[] = [
        ...planned,
        ...index.records.map(({ key, value }) => ({ key, value, entityName: AUDIT_INDEX_ENTITY })),
        { key: headKey, value: headValue, entityName: DOCUMENT_ENTITY, conditions: versionIs(headDoc?.version ?? 0) },
        { key: storageKeys.ledgerEntry(ledger, head.seq), value: { version: head.seq, document: entry }, entityName: DOCUMENT_ENTITY, conditions: versionIs(0) },
      ];
      try {
        await transact(all);
        return true;
      } catch (error) {
        if (!isConflict(error)) throw toStorageError(error);
        if (!(await retry())) return false;
        await backOff(attempt);
      }
    }
    throw new RequestError('CONFLICT', 'Too many changes are being saved in this repository at the same moment; try again in a few seconds.');
  }
}

async function loadSecrets(): Promise<AppSecrets> {
  let stored = await storage(() => kvs.getSecret<StoredSecrets>(SECRETS_KEY));
  if (!stored) {
    const fresh: StoredSecrets = { signing: (await generateAppKey()).privateJwk, seal: encodeBase64url(crypto.getRandomValues(new Uint8Array(32))) };
    try {
      await kvs.setSecret(SECRETS_KEY, fresh, { keyPolicy: 'FAIL_IF_EXISTS' });
      stored = fresh;
    } catch (error) {
      // Another container made them first: theirs are the installation's.
      if (!isConflict(error)) throw toStorageError(error);
      stored = await storage(() => kvs.getSecret<StoredSecrets>(SECRETS_KEY));
    }
  }
  const signingJwk = AppPrivateJwk.safeParse(stored?.signing);
  const sealBytes = typeof stored?.seal === 'string' ? decodeBase64url(stored.seal) : undefined;
  if (!signingJwk.success || sealBytes?.length !== 32) {
    throw new RequestError('STORAGE_ERROR', "Countersign's own keys in secret storage are unreadable; contact Countersign support.");
  }
  const { d: _d, ...publicJwk } = signingJwk.data;
  return {
    signing: { privateKey: await importAppSigningKey(signingJwk.data), keyId: await appKeyId(publicJwk) },
    publicJwk,
    seal: await importSealKey(sealBytes),
  };
}

/** `document` as version `version` at `key`, with its seal. */
async function sealedValue<T>(seal: CryptoKey, key: string, version: number, document: T): Promise<VersionedDocument<T>> {
  return { version, document, seal: await sealOf(seal, key, { version, document }) };
}

/** A write of `document` at `key` as the next version after `current`, sealed. */
async function sealedWrite<T>(seal: CryptoKey, key: string, current: VersionedDocument<unknown> | undefined, document: T): Promise<Write> {
  const version = (current?.version ?? 0) + 1;
  return { key, value: await sealedValue(seal, key, version, document), entityName: DOCUMENT_ENTITY, conditions: versionIs(current?.version ?? 0) };
}

function indexTampered(): RequestError {
  return new RequestError('STORAGE_ERROR', "Countersign's revocation index was changed outside Countersign, so no signature can be trusted; contact your administrator.");
}

function policyTampered(): RequestError {
  return new RequestError('STORAGE_ERROR', "This repository's stored policy was changed outside Countersign; a repository admin should review it and save it again.");
}

/** A stored document with its seal checked; a missing one is intact and empty. */
async function openSealed<T>(key: CryptoKey, place: string, value: unknown): Promise<{ document?: T; intact: boolean }> {
  const doc = value as VersionedDocument<T> | undefined;
  if (!doc) return { intact: true };
  return { document: doc.document, intact: await hasValidSeal(key, place, { version: doc.version, document: doc.document }, doc.seal) };
}

async function transact(writes: Write[]): Promise<void> {
  let tx = kvs.transact();
  for (const w of writes) {
    const entity = w.entityName ? ({ entityName: w.entityName, conditions: w.conditions } as Parameters<typeof tx.set>[2]) : undefined;
    tx = w.checkOnly
      ? tx.check(w.key, entity as Parameters<typeof tx.check>[1])
      : w.remove
        ? tx.delete(w.key, entity as Parameters<typeof tx.delete>[1])
        : tx.set(w.key, w.value, entity, w.ttlSeconds ? { ttl: { value: w.ttlSeconds, unit: 'SECONDS' } } : undefined);
  }
  await tx.execute();
}

/** The write that marks a challenge used, and the conditions under which it may: live, unused, and the claimant's. */
function consumption(value: string, claim: ChallengeClaim): [string, ChallengeRecord, Condition<ChallengeRecord>] {
  const now = claim.now.toISOString();
  const target = claim.deployment !== undefined ? { deployment: claim.deployment } : { pullRequest: claim.pullRequest };
  const used: ChallengeRecord = { accountId: claim.accountId, workspace: claim.workspace, repository: claim.repository, ...target, expiresAt: now, consumed: true };
  let conditions = new Filter<ChallengeRecord>()
    .and('accountId', FilterConditions.equalTo(claim.accountId))
    .and('workspace', FilterConditions.equalTo(claim.workspace))
    .and('repository', FilterConditions.equalTo(claim.repository))
    .and('consumed', FilterConditions.equalTo(false))
    .and('expiresAt', FilterConditions.greaterThan(now));
  // A pull request's challenge never serves a deployment, nor the other way round.
  conditions =
    claim.deployment !== undefined
      ? conditions.and('deployment', FilterConditions.equalTo(claim.deployment)).and('pullRequest', FilterConditions.notExists())
      : conditions.and('pullRequest', FilterConditions.equalTo(claim.pullRequest ?? 0)).and('deployment', FilterConditions.notExists());
  return [storageKeys.challenge(value), used, conditions];
}

function versionIs(version: number): Condition<VersionedDocument<unknown>> {
  return new Filter<VersionedDocument<unknown>>().and('version', version === 0 ? FilterConditions.notExists() : FilterConditions.equalTo(version));
}

function backOff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
}

/** Every plain KVS value whose key begins with `prefix`, a query page at a time. */
async function valuesBeginningWith(prefix: string): Promise<unknown[]> {
  const values: unknown[] = [];
  let cursor: string | undefined;
  do {
    let query = kvs.query().where('key', { condition: 'BEGINS_WITH', values: [prefix] }).limit(QUERY_PAGE);
    if (cursor) query = query.cursor(cursor);
    const page = await storage(() => query.getMany<unknown>());
    values.push(...page.results.map((result) => result.value));
    cursor = page.nextCursor;
  } while (cursor);
  return values;
}

/**
 * Reads any number of keys at once: batches of at most 25 (the KVS limit), all sent together, so the
 * cost is one round trip. Returns a lookup; a key that is not there reads as undefined.
 */
async function batchRead(items: { key: string; entityName?: string }[]): Promise<(key: string) => unknown> {
  const batches = Array.from({ length: Math.ceil(items.length / BATCH) }, (_, i) => items.slice(i * BATCH, (i + 1) * BATCH));
  const answers = await Promise.all(batches.map((batch) => storage(() => kvs.batchGet<unknown>(batch))));
  const values = new Map<string, unknown>();
  for (const { successfulKeys, failedKeys } of answers) {
    const failure = failedKeys.find((f) => f.error.code !== 'KEY_NOT_FOUND');
    if (failure) throw new RequestError('STORAGE_ERROR', `Countersign could not read its storage (${failure.error.code}); try again.`);
    for (const { key, value } of successfulKeys) values.set(key, value);
  }
  return (key) => values.get(key);
}

/**
 * One key, one account: the first enrolment of a key id claims it for good. True when this call made
 * the claim; false when the same account had already claimed it.
 */
async function claimKeyId(record: KeyRecord): Promise<boolean> {
  const claim = storageKeys.keyOwner(record.keyId);
  try {
    await kvs.set(claim, record.accountId, { keyPolicy: 'FAIL_IF_EXISTS' });
    return true;
  } catch (error) {
    if (!isConflict(error)) throw toStorageError(error);
    const owner = await storage(() => kvs.get<string>(claim));
    if (owner !== record.accountId) {
      throw new RequestError('CONFLICT', 'This key is already enrolled to another account; create a new key on this device.');
    }
    return false;
  }
}

async function readDocument<T>(key: string): Promise<VersionedDocument<T> | undefined> {
  return storage(() => kvs.entity<VersionedDocument<T>>(DOCUMENT_ENTITY).get(key));
}

function toPolicy(value: unknown): Policy | undefined {
  const parsed = Policy.safeParse(value);
  if (!parsed.success) throw new RequestError('STORAGE_ERROR', 'The stored policy is unreadable; an admin should save the policy again.');
  return parsed.data;
}

function toKeyRecord(value: unknown): KeyRecord | undefined {
  const parsed = KeyRecord.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

function isConflict(error: unknown): boolean {
  return error instanceof ForgeKvsAPIError && error.responseDetails.status === 409;
}

function toStorageError(error: unknown): RequestError {
  if (error instanceof RequestError) return error;
  if (error instanceof ForgeKvsAPIError && (error.code === 'MAX_SIZE' || error.code === 'MAX_DEPTH')) {
    return new RequestError('LIMIT_REACHED', 'This record has grown past the storage limit of 240 KiB; contact your administrator.', { cause: error });
  }
  return new RequestError('STORAGE_ERROR', 'Countersign could not reach its storage; try again in a moment.', { cause: error });
}

async function storage<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toStorageError(error);
  }
}
