import * as z from 'zod/mini';
import { AccountId, importPublicKey, INSTALLATION_LEDGER, KeyId, KeyLabel, keyIdOf, PublicJwk, RequestError, revocationId, revokedIn, type KeyRecord } from '../core';
import type { Deps } from '../ports';
import { requestReevaluation } from './reevaluate';
import { callerOf, parsePayload } from './requests';

export const MAX_KEYS_PER_ACCOUNT = 10;

const EnrollPayload = z.strictObject({ publicKey: z.record(z.string(), z.unknown()), label: KeyLabel });
const RenamePayload = z.strictObject({ keyId: KeyId, label: KeyLabel });
const RevokePayload = z.strictObject({ accountId: z.optional(AccountId), keyId: KeyId });

/** Binds a device's public key to the authenticated caller. Only public keys are accepted. */
export async function enrollKey(deps: Deps, payload: unknown, context: unknown): Promise<{ key: KeyRecord }> {
  const caller = callerOf(context);
  const { publicKey: raw, label } = parsePayload(EnrollPayload, payload);
  if ('d' in raw) {
    throw new RequestError('INVALID_INPUT', 'That is a private key. Only the public key may leave your device; nothing was stored.');
  }
  const parsed = PublicJwk.safeParse(raw);
  if (!parsed.success) throw new RequestError('INVALID_INPUT', 'The public key must be an EC P-256 JWK with x and y.');
  await importPublicKey(parsed.data).catch(() => {
    throw new RequestError('INVALID_INPUT', 'The public key is not a valid point on P-256.');
  });
  const keyId = await keyIdOf(parsed.data);
  // The enrolment is recorded in this repository's ledger: only for someone Bitbucket shows it to.
  if ((await deps.bitbucket.getMyPermission(caller.workspace, caller.repository)) === 'none') {
    throw new RequestError('FORBIDDEN', 'You have no access to this repository in Bitbucket, so Countersign cannot enrol a key from here.');
  }
  const existing = await deps.keys.listKeys(caller.accountId);
  const same = existing.find((k) => k.keyId === keyId);
  if (same) return { key: same };
  const revocations = await deps.keys.loadRevocations(existing);
  // Keys revoked everywhere no longer count toward the limit; a repository-scoped revocation does not free a slot.
  const revokedEverywhere = revokedIn(revocations);
  const active = existing.filter((k) => !revokedEverywhere.has(revocationId(k.accountId, k.keyId)));
  if (active.length >= MAX_KEYS_PER_ACCOUNT) {
    throw new RequestError('LIMIT_REACHED', `You already have ${MAX_KEYS_PER_ACCOUNT} keys enrolled; revoke one you no longer use first.`);
  }
  const record: KeyRecord = { keyId, accountId: caller.accountId, publicKey: parsed.data, label, createdAt: deps.now().toISOString() };
  return { key: await deps.keys.enrollKey(record, caller.repository) };
}

/**
 * Renames one of the caller's own keys (nobody else's: the payload names no account). The label is
 * checked as at enrolment; the change is recorded in this repository's ledger, or the installation's
 * when Bitbucket does not show the caller this repository.
 */
export async function renameKey(deps: Deps, payload: unknown, context: unknown): Promise<{ key: KeyRecord }> {
  const caller = callerOf(context);
  const { keyId, label } = parsePayload(RenamePayload, payload);
  const visible = (await deps.bitbucket.getMyPermission(caller.workspace, caller.repository)) !== 'none';
  const key = await deps.keys.renameKey(caller.accountId, keyId, label, deps.now().toISOString(), visible ? caller.repository : INSTALLATION_LEDGER);
  if (!key) throw new RequestError('NOT_FOUND', 'You have no key with that id; only your own keys can be renamed.');
  return { key };
}

/**
 * Revokes a key. Your own: everywhere. Someone else's, as an admin of this repository: for this
 * repository only, because being admin here says nothing about the rest of the workspace.
 */
export async function revokeKey(deps: Deps, payload: unknown, context: unknown): Promise<{ keyId: string; repository: string | null }> {
  const caller = callerOf(context);
  const { accountId = caller.accountId, keyId } = parsePayload(RevokePayload, payload);
  const own = accountId === caller.accountId;
  const permission = await deps.bitbucket.getMyPermission(caller.workspace, caller.repository);
  if (!own && permission !== 'admin') {
    throw new RequestError('FORBIDDEN', "Only repository admins can revoke someone else's key.");
  }
  // Your own key can always be revoked; from a repository you cannot see, it is recorded installation-wide.
  const visible = permission !== 'none';
  const key = await deps.keys.getKey(accountId, keyId);
  if (!key) throw new RequestError('NOT_FOUND', 'No such key is enrolled for that account.');
  await deps.keys.revokeKey({
    keyId,
    accountId,
    revokedAt: deps.now().toISOString(),
    revokedBy: caller.accountId,
    ...(own ? {} : { repository: caller.repository }),
  }, visible ? caller.repository : INSTALLATION_LEDGER);
  // A revocation everywhere can move verdicts in every repository that reports a status; one here, only here.
  const reporting = own
    ? await deps.gate.statusRepositories().catch((error: unknown) => {
        // The revocation is stored; only the refresh of other repositories' statuses is lost.
        console.warn('Countersign: could not list the repositories that report a status', error);
        return [];
      })
    : [];
  const affected = reporting.filter((r) => r.workspace === caller.workspace).map((r) => r.repository);
  const repositories = new Set([...(visible ? [caller.repository] : []), ...affected]);
  await requestReevaluation(deps, [...repositories].map((repository) => ({ kind: 'repository', workspace: caller.workspace, repository, reason: 'revocation' })));
  return { keyId, repository: own ? null : caller.repository };
}
