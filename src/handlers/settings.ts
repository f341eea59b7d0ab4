import * as z from 'zod/mini';
import { buildPolicy, parseRules, RequestError, revocationApplies, revocationId, validateRules } from '../core';
import type { Deps } from '../ports';
import { requestReevaluation } from './reevaluate';
import { callerOf, parsePayload } from './requests';

const SavePayload = z.strictObject({ baseVersion: z.int().check(z.nonnegative()), rules: z.unknown() });
const CheckPayload = z.strictObject({ rules: z.unknown() });

/**
 * The policy, whether the caller may edit it, and enrolled keys with their revocation state for this
 * repository: every key for admins (who may revoke them), only their own for everyone else.
 */
export async function getSettings(deps: Deps, context: unknown) {
  const caller = callerOf(context);
  const [policy, permission, keys] = await Promise.all([
    deps.gate.loadPolicy(caller.repository),
    deps.bitbucket.getMyPermission(caller.workspace, caller.repository),
    deps.keys.listKeys(),
  ]);
  if (permission === 'none') {
    throw new RequestError('FORBIDDEN', 'You have no access to this repository in Bitbucket, so its Countersign settings are not shown.');
  }
  const canEdit = permission === 'admin';
  const shown = keys.filter((key) => canEdit || key.accountId === caller.accountId);
  const revocations = await deps.keys.loadRevocations(shown);
  const revoked = new Map(
    revocations.filter((r) => revocationApplies(r, caller.repository)).map((r) => [revocationId(r.accountId, r.keyId), r]),
  );
  return {
    me: caller.accountId,
    workspace: caller.workspace,
    repository: caller.repository,
    policy: policy ?? null,
    canEdit,
    keys: shown.map((key) => ({
        ...key,
        revocation: revoked.get(revocationId(key.accountId, key.keyId)) ?? null,
      })),
  };
}

/** Saves a new policy version. Repository admins only, as Bitbucket says when asked as the caller. */
export async function saveSettings(deps: Deps, payload: unknown, context: unknown) {
  const caller = callerOf(context);
  const { baseVersion, rules: rawRules } = parsePayload(SavePayload, payload);
  const permission = await deps.bitbucket.getMyPermission(caller.workspace, caller.repository);
  if (permission !== 'admin') {
    throw new RequestError('FORBIDDEN', 'Only repository admins can change the Countersign policy; ask an admin of this repository.');
  }
  const rules = parseRules(rawRules);
  const policy = await buildPolicy({ version: baseVersion + 1, rules, savedAt: deps.now().toISOString(), savedBy: caller.accountId });
  const previous = baseVersion > 0 ? await deps.gate.loadPolicyVersion(caller.repository, baseVersion) : undefined;
  if (baseVersion > 0 && !previous) {
    throw new RequestError('CONFLICT', `There is no policy version ${baseVersion} to edit; reload to see the current policy, then save again.`);
  }
  await deps.gate.savePolicy(caller.workspace, caller.repository, policy, baseVersion, previous);
  // Only a policy that reports a status or merges, now or before, has anything for re-evaluation to change.
  const acts = (p: typeof policy | undefined) => !!p?.rules.some((rule) => rule.commitStatus || rule.autoMerge);
  if (acts(policy) || acts(previous)) {
    await requestReevaluation(deps, [{ kind: 'repository', workspace: caller.workspace, repository: caller.repository, reason: 'policy' }]);
  }
  return { policy };
}

export type SettingsState = Awaited<ReturnType<typeof getSettings>>;

/**
 * Checks a draft of rules exactly as saving would, field by field, and stores nothing: the editor
 * asks as the admin types, so the rules' schema lives only here and the app stays small.
 */
export async function checkPolicy(payload: unknown, context: unknown) {
  callerOf(context);
  return validateRules(parsePayload(CheckPayload, payload).rules);
}
