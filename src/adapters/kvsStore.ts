import { Filter, FilterConditions, ForgeKvsAPIError, kvs } from '@forge/kvs';
import { bareUuid, KeyRecord, Policy, Revocation, RequestError, revocationId, StoredApproval, type ChallengeClaim, type ChallengeRecord } from '../core';
import type { ChallengeOutcome, ChallengeStore, GateState, GateStore, KeyStore, RevokedKeys } from '../ports';
import { APPROVAL_BUCKETS, CHALLENGE_ENTITY, DOCUMENT_ENTITY, layoutHash, REVOCATION_SHARDS, storageKeys } from './keys';

type Condition<T> = ReturnType<Filter<T>['and']>;

/** A value updated by compare-and-set: `version` goes up by one with every write. */
interface VersionedDocument<T> {
  version: number;
  document: T;
}

/** One bucket of a pull request's approvals: each signer's statement in force, by signer. */
type ApprovalsDocument = Record<string, StoredApproval>;
/** One key's revocations: everywhere, and per repository. */
type RevocationsDocument = Revocation[];
/** One shard of the revocation index: `revocationEntry` hashes present. */
type RevokedShard = Record<string, 1>;

/** The index entry for a revocation of `accountId`'s key, everywhere (`repository` undefined) or in one repository. */
function revocationEntry(id: string, repository?: string): string {
  return layoutHash(`${id} ${repository ? bareUuid(repository) : '*'}`);
}

const MAX_WRITE_ATTEMPTS = 40;
const QUERY_PAGE = 20;
/** Keys in one KVS batch read. */
const BATCH = 25;

/** Countersign's storage on Forge KVS. The only module that knows how things are laid out in KVS. */
export class KvsStore implements GateStore, KeyStore, ChallengeStore {
  async loadGate(
    repository: string,
    pullRequest: number,
    options: { key?: { accountId: string; keyId: string } } = {},
  ): Promise<GateState> {
    const policyKey = storageKeys.policy(repository);
    // Version 1 exists for good once a policy was ever saved: with it, a lost current record fails closed.
    const firstPolicyKey = storageKeys.policyVersion(repository, 1);
    const bucketKeys = Array.from({ length: APPROVAL_BUCKETS }, (_, b) => storageKeys.approvalBucket(repository, pullRequest, b));
    const shardKeys = Array.from({ length: REVOCATION_SHARDS }, (_, s) => storageKeys.revokedShard(s));
    const keyKey = options.key && storageKeys.key(options.key.accountId, options.key.keyId);
    const found = await batchRead([
      { key: policyKey, entityName: DOCUMENT_ENTITY },
      { key: firstPolicyKey, entityName: DOCUMENT_ENTITY },
      ...bucketKeys.map((key) => ({ key, entityName: DOCUMENT_ENTITY })),
      ...shardKeys.map((key) => ({ key, entityName: DOCUMENT_ENTITY })),
      ...(keyKey ? [{ key: keyKey }] : []),
    ]);

    const policyDoc = found(policyKey) as VersionedDocument<unknown> | undefined;
    if (!policyDoc && found(firstPolicyKey)) {
      throw new RequestError(
        'STORAGE_ERROR',
        "This repository's policy record is missing although a policy was saved before, so nothing can be approved; a repository admin should open Countersign settings and save the policy again.",
      );
    }
    const approvals = bucketKeys.flatMap((key) => Object.values((found(key) as VersionedDocument<ApprovalsDocument> | undefined)?.document ?? {}));
    const shards = shardKeys.map((key) => (found(key) as VersionedDocument<RevokedShard> | undefined)?.document ?? {});
    const indexed = (entry: string) => shards[storageKeys.revokedShardOf(entry)]![entry] === 1;
    const revokedKeys: RevokedKeys = { has: (id) => indexed(revocationEntry(id)) || indexed(revocationEntry(id, repository)) };
    return {
      policy: policyDoc ? toPolicy(policyDoc.document) : undefined,
      approvals,
      revokedKeys,
      ...(keyKey ? { key: toKeyRecord(found(keyKey)) } : {}),
    };
  }

  /** The current policy; should its record be lost, the newest kept version, so an admin can save it again. */
  async loadPolicy(repository: string): Promise<Policy | undefined> {
    const doc = await readDocument<unknown>(storageKeys.policy(repository));
    if (doc) return toPolicy(doc.document);
    // Kept versions are numbered 1, 2, 3, … without gaps; read them a batch at a time to the last one.
    let newest: unknown;
    for (let first = 1; ; first += BATCH) {
      const items = Array.from({ length: BATCH }, (_, i) => ({ key: storageKeys.policyVersion(repository, first + i), entityName: DOCUMENT_ENTITY }));
      const { successfulKeys } = await storage(() => kvs.batchGet<VersionedDocument<unknown>>(items));
      const found = items.map((item) => successfulKeys.find((s) => s.key === item.key)?.value).filter((v) => v !== undefined);
      newest = found.at(-1)?.document ?? newest;
      if (found.length < BATCH) return newest === undefined ? undefined : toPolicy(newest);
    }
  }

  /**
   * Consumes the challenge and stores the approval in one transaction: a refused or failed write
   * consumes nothing. The server's order decides a signer's position: whichever statement is written
   * last is in force, never the time a device wrote into it; `seq` records that order.
   */
  async recordDecision(
    repository: string,
    pullRequest: number,
    approval: StoredApproval,
    challenge: { value: string; claim: ChallengeClaim; ttlSeconds: number },
  ): Promise<ChallengeOutcome> {
    const signer = approval.statement.signer;
    const bucket = storageKeys.approvalBucket(repository, pullRequest, storageKeys.approvalBucketOf(signer));
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await readDocument<ApprovalsDocument>(bucket);
      const version = current?.version ?? 0;
      const next: VersionedDocument<ApprovalsDocument> = { version: version + 1, document: { ...current?.document, [signer]: { ...approval, seq: version + 1 } } };
      const unchanged = new Filter<VersionedDocument<ApprovalsDocument>>().and('version', version === 0 ? FilterConditions.notExists() : FilterConditions.equalTo(version));
      const [key, used, conditions] = consumption(challenge.value, challenge.claim);
      try {
        await kvs
          .transact()
          .set(bucket, next, { entityName: DOCUMENT_ENTITY, conditions: unchanged })
          .set(key, used, { entityName: CHALLENGE_ENTITY, conditions }, { ttl: { value: challenge.ttlSeconds, unit: 'SECONDS' } })
          .execute();
        return { consumed: true };
      } catch (error) {
        if (!isConflict(error)) throw toStorageError(error);
        const found = await storage(() => kvs.entity<ChallengeRecord>(CHALLENGE_ENTITY).get(key));
        if (!isUsable(found, challenge.claim)) return { consumed: false, found };
        await backOff(attempt);
      }
    }
    throw new RequestError('CONFLICT', 'Too many people are signing at the same moment; try again in a few seconds.');
  }

  async loadPolicyVersion(repository: string, version: number): Promise<Policy | undefined> {
    const doc = await readDocument<unknown>(storageKeys.policyVersion(repository, version));
    return doc ? toPolicy(doc.document) : undefined;
  }

  /**
   * The current record and the immutable copy of this version, in one transaction: both or neither.
   * The copy may be written only once, which is the compare-and-set: of two admins saving on one base
   * version, one wins; and a lost current record is simply written again by the next save.
   */
  async savePolicy(repository: string, policy: Policy, expectedVersion: number): Promise<void> {
    if (policy.version !== expectedVersion + 1) throw new RequestError('CONFLICT', 'A policy must be saved as the version after the one it was edited from.');
    const document: VersionedDocument<Policy> = { version: policy.version, document: policy };
    const neverWritten = new Filter<VersionedDocument<Policy>>().and('version', FilterConditions.notExists());
    try {
      await kvs
        .transact()
        .set(storageKeys.policy(repository), document, { entityName: DOCUMENT_ENTITY })
        .set(storageKeys.policyVersion(repository, policy.version), document, { entityName: DOCUMENT_ENTITY, conditions: neverWritten })
        .execute();
    } catch (error) {
      if (!isConflict(error)) throw toStorageError(error);
      throw new RequestError('CONFLICT', 'Someone else saved this policy while you were editing it; reload to see their version, then save again.');
    }
  }

  async listKeys(accountId?: string): Promise<KeyRecord[]> {
    const records: KeyRecord[] = [];
    let cursor: string | undefined;
    do {
      let query = kvs.query().where('key', { condition: 'BEGINS_WITH', values: [storageKeys.keysOf(accountId)] }).limit(QUERY_PAGE);
      if (cursor) query = query.cursor(cursor);
      const page = await storage(() => query.getMany<unknown>());
      for (const result of page.results) {
        const record = toKeyRecord(result.value);
        // The prefix `key:<id>:` also matches accounts whose ID merely starts with `<id>:`.
        if (record && (accountId === undefined || record.accountId === accountId)) records.push(record);
      }
      cursor = page.nextCursor;
    } while (cursor);
    return records;
  }

  async loadRevocations(keys: { accountId: string; keyId: string }[]): Promise<Revocation[]> {
    if (keys.length === 0) return [];
    const items = keys.map((k) => ({ key: storageKeys.revocation(k.accountId, k.keyId), entityName: DOCUMENT_ENTITY }));
    const found = await batchRead(items);
    return items.flatMap((item) => (found(item.key) as VersionedDocument<RevocationsDocument> | undefined)?.document ?? []);
  }

  async enrollKey(record: KeyRecord): Promise<KeyRecord> {
    await claimKeyId(record);
    const key = storageKeys.key(record.accountId, record.keyId);
    try {
      await kvs.set(key, record, { keyPolicy: 'FAIL_IF_EXISTS' });
      return record;
    } catch (error) {
      if (!isConflict(error)) throw toStorageError(error);
      const existing = toKeyRecord(await storage(() => kvs.get(key)));
      if (!existing) throw toStorageError(error);
      return existing;
    }
  }

  async getKey(accountId: string, keyId: string): Promise<KeyRecord | undefined> {
    return toKeyRecord(await storage(() => kvs.get(storageKeys.key(accountId, keyId))));
  }

  /** The key's own record of revocations and the merge check's index, in one transaction. */
  async revokeKey(revocation: Revocation): Promise<void> {
    const entry = revocationEntry(revocationId(revocation.accountId, revocation.keyId), revocation.repository);
    const recordKey = storageKeys.revocation(revocation.accountId, revocation.keyId);
    const shardKey = storageKeys.revokedShard(storageKeys.revokedShardOf(entry));
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const found = await batchRead([
        { key: recordKey, entityName: DOCUMENT_ENTITY },
        { key: shardKey, entityName: DOCUMENT_ENTITY },
      ]);
      const record = found(recordKey) as VersionedDocument<RevocationsDocument> | undefined;
      const shard = found(shardKey) as VersionedDocument<RevokedShard> | undefined;
      if (record?.document.some((r) => r.repository === revocation.repository) && shard?.document[entry]) return;
      try {
        await kvs
          .transact()
          .set(recordKey, { version: (record?.version ?? 0) + 1, document: [...(record?.document ?? []), revocation] }, { entityName: DOCUMENT_ENTITY, conditions: versionIs(record?.version ?? 0) })
          .set(shardKey, { version: (shard?.version ?? 0) + 1, document: { ...shard?.document, [entry]: 1 } }, { entityName: DOCUMENT_ENTITY, conditions: versionIs(shard?.version ?? 0) })
          .execute();
        return;
      } catch (error) {
        if (!isConflict(error)) throw toStorageError(error);
        await backOff(attempt);
      }
    }
    throw new RequestError('CONFLICT', 'Too many keys are being revoked at the same moment; try again in a few seconds.');
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
}

/** The write that marks a challenge used, and the conditions under which it may: live, unused, and the claimant's. */
function consumption(value: string, claim: ChallengeClaim): [string, ChallengeRecord, Condition<ChallengeRecord>] {
  const now = claim.now.toISOString();
  const used: ChallengeRecord = { accountId: claim.accountId, workspace: claim.workspace, repository: claim.repository, pullRequest: claim.pullRequest, expiresAt: now, consumed: true };
  const conditions = new Filter<ChallengeRecord>()
    .and('accountId', FilterConditions.equalTo(claim.accountId))
    .and('workspace', FilterConditions.equalTo(claim.workspace))
    .and('repository', FilterConditions.equalTo(claim.repository))
    .and('pullRequest', FilterConditions.equalTo(claim.pullRequest))
    .and('consumed', FilterConditions.equalTo(false))
    .and('expiresAt', FilterConditions.greaterThan(now));
  return [storageKeys.challenge(value), used, conditions];
}

/** Whether a stored challenge would pass `consumption`'s conditions now. */
function isUsable(found: ChallengeRecord | undefined, claim: ChallengeClaim): boolean {
  return (
    found !== undefined &&
    !found.consumed &&
    found.accountId === claim.accountId &&
    found.workspace === claim.workspace &&
    found.repository === claim.repository &&
    found.pullRequest === claim.pullRequest &&
    found.expiresAt > claim.now.toISOString()
  );
}

function versionIs(version: number): Condition<VersionedDocument<unknown>> {
  return new Filter<VersionedDocument<unknown>>().and('version', version === 0 ? FilterConditions.notExists() : FilterConditions.equalTo(version));
}

function backOff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
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

/** One key, one account: the first enrolment of a key id claims it for good. */
async function claimKeyId(record: KeyRecord): Promise<void> {
  const claim = storageKeys.keyOwner(record.keyId);
  try {
    await kvs.set(claim, record.accountId, { keyPolicy: 'FAIL_IF_EXISTS' });
  } catch (error) {
    if (!isConflict(error)) throw toStorageError(error);
    const owner = await storage(() => kvs.get<string>(claim));
    if (owner !== record.accountId) {
      throw new RequestError('CONFLICT', 'This key is already enrolled to another account; create a new key on this device.');
    }
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
