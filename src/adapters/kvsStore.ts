import { Filter, FilterConditions, ForgeKvsAPIError, kvs } from '@forge/kvs';
import { KeyRecord, Policy, Revocation, RequestError, revokedIn, StoredApproval, type ChallengeClaim, type ChallengeRecord } from '../core';
import type { ChallengeOutcome, ChallengeStore, GateState, GateStore, KeyStore } from '../ports';
import { CHALLENGE_ENTITY, DOCUMENT_ENTITY, storageKeys } from './keys';

/** A value updated by compare-and-set: `version` goes up by one with every write. */
interface VersionedDocument<T> {
  version: number;
  document: T;
}

type ApprovalsDocument = Record<string, StoredApproval>;
type RevocationsDocument = Revocation[];

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
    const approvalsKey = storageKeys.approvals(repository, pullRequest);
    const revocationsKey = storageKeys.revocations();
    const keyKey = options.key && storageKeys.key(options.key.accountId, options.key.keyId);
    const items = [
      { key: policyKey, entityName: DOCUMENT_ENTITY },
      { key: firstPolicyKey, entityName: DOCUMENT_ENTITY },
      { key: approvalsKey, entityName: DOCUMENT_ENTITY },
      { key: revocationsKey, entityName: DOCUMENT_ENTITY },
      ...(keyKey ? [{ key: keyKey }] : []),
    ];
    const { successfulKeys, failedKeys } = await storage(() => kvs.batchGet<unknown>(items));
    const failure = failedKeys.find((f) => f.error.code !== 'KEY_NOT_FOUND');
    if (failure) throw new RequestError('STORAGE_ERROR', `Countersign could not read its storage (${failure.error.code}); try again.`);
    const found = (key: string) => successfulKeys.find((s) => s.key === key)?.value;

    const policyDoc = found(policyKey) as VersionedDocument<unknown> | undefined;
    if (!policyDoc && found(firstPolicyKey)) {
      throw new RequestError(
        'STORAGE_ERROR',
        "This repository's policy record is missing although a policy was saved before, so nothing can be approved; a repository admin should open Countersign settings and save the policy again.",
      );
    }
    const approvalsDoc = found(approvalsKey) as VersionedDocument<ApprovalsDocument> | undefined;
    const revocationsDoc = found(revocationsKey) as VersionedDocument<RevocationsDocument> | undefined;
    return {
      policy: policyDoc ? toPolicy(policyDoc.document) : undefined,
      approvals: Object.values(approvalsDoc?.document ?? {}),
      revokedKeys: revokedIn(revocationsDoc?.document ?? [], repository),
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

  async recordApproval(repository: string, pullRequest: number, approval: StoredApproval): Promise<void> {
    const signer = approval.statement.signer;
    // The server's order decides: whichever statement is written last is the signer's position, never
    // the time a device wrote into it. `seq` records that order (the document's version at the write).
    await updateDocument<ApprovalsDocument>(storageKeys.approvals(repository, pullRequest), (current, version) => ({
      ...current,
      [signer]: { ...approval, seq: version + 1 },
    }));
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

  async loadRevocations(): Promise<Revocation[]> {
    const doc = await storage(() => kvs.entity<VersionedDocument<RevocationsDocument>>(DOCUMENT_ENTITY).get(storageKeys.revocations()));
    return doc?.document ?? [];
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

  async revokeKey(revocation: Revocation): Promise<void> {
    await updateDocument<RevocationsDocument>(storageKeys.revocations(), (current = []) =>
      current.some((r) => r.keyId === revocation.keyId && r.accountId === revocation.accountId && r.repository === revocation.repository)
        ? current
        : [...current, revocation],
    );
  }

  async issueChallenge(value: string, record: ChallengeRecord, ttlSeconds: number): Promise<void> {
    await storage(() => kvs.entity<ChallengeRecord>(CHALLENGE_ENTITY).set(storageKeys.challenge(value), record, { ttl: { value: ttlSeconds, unit: 'SECONDS' } }));
  }

  async consumeChallenge(value: string, claim: ChallengeClaim, ttlSeconds: number): Promise<ChallengeOutcome> {
    const key = storageKeys.challenge(value);
    const now = claim.now.toISOString();
    const used: ChallengeRecord = { accountId: claim.accountId, workspace: claim.workspace, repository: claim.repository, pullRequest: claim.pullRequest, expiresAt: now, consumed: true };
    const conditions = new Filter<ChallengeRecord>()
      .and('accountId', FilterConditions.equalTo(claim.accountId))
      .and('workspace', FilterConditions.equalTo(claim.workspace))
      .and('repository', FilterConditions.equalTo(claim.repository))
      .and('pullRequest', FilterConditions.equalTo(claim.pullRequest))
      .and('consumed', FilterConditions.equalTo(false))
      .and('expiresAt', FilterConditions.greaterThan(now));
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

/** Compare-and-set: writes version `expectedVersion + 1` only if the stored version is still `expectedVersion`. */
async function writeDocument<T>(key: string, expectedVersion: number, document: T): Promise<boolean> {
  const next: VersionedDocument<T> = { version: expectedVersion + 1, document };
  try {
    if (expectedVersion === 0) {
      await kvs.entity<VersionedDocument<T>>(DOCUMENT_ENTITY).set(key, next, { keyPolicy: 'FAIL_IF_EXISTS' });
    } else {
      await kvs
        .transact()
        .set(key, next, {
          entityName: DOCUMENT_ENTITY,
          conditions: new Filter<VersionedDocument<T>>().and('version', FilterConditions.equalTo(expectedVersion)),
        })
        .execute();
    }
    return true;
  } catch (error) {
    if (isConflict(error)) return false;
    throw toStorageError(error);
  }
}

/** Read, change, compare-and-set; on a lost race, read again. Concurrent writers never overwrite each other. */
async function updateDocument<T>(key: string, change: (current: T | undefined, version: number) => T): Promise<void> {
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    const current = await readDocument<T>(key);
    const version = current?.version ?? 0;
    if (await writeDocument(key, version, change(current?.document, version))) return;
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
  }
  throw new RequestError('CONFLICT', 'Too many people are saving at the same moment; try again in a few seconds.');
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
