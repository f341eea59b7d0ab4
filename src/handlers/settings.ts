import * as z from 'zod/mini';
import { buildPolicy, parseEnvironments, parseRules, RequestError, revocationApplies, revocationId, validateDraft, type Policy } from '../core';
import type { DeploymentEnvironment, Deps } from '../ports';
import { requestReevaluation } from './reevaluate';
import { callerOf, parsePayload } from './requests';

const SavePayload = z.strictObject({ baseVersion: z.int().check(z.nonnegative()), rules: z.unknown(), environments: z.optional(z.unknown()) });
const CheckPayload = z.strictObject({ rules: z.unknown(), environments: z.optional(z.unknown()) });

/**
 * The repository's deployment environments as Bitbucket lists them to the caller, and which gated
 * environments (by UUID) it no longer lists: their policies are kept and shown, not dropped. When
 * Bitbucket could not be read, why, so the rest of the page still works.
 */
export type DeploymentEnvironments =
  | { ok: true; environments: DeploymentEnvironment[]; notFound: string[] }
  | { ok: false; code: string; message: string };

async function deploymentEnvironments(deps: Deps, workspace: string, repository: string): Promise<(policy: Policy | undefined) => DeploymentEnvironments> {
  try {
    const environments = await deps.bitbucket.listEnvironments(workspace, repository, 'user');
    const listed = new Set(environments.map((e) => e.uuid));
    return (policy) => ({ ok: true, environments, notFound: (policy?.environments ?? []).map((e) => e.environment).filter((uuid) => !listed.has(uuid)) });
  } catch (error) {
    // Anything else (Forge's consent prompt among it) is not ours to soften.
    if (!(error instanceof RequestError)) throw error;
    return () => ({ ok: false, code: error.code, message: `Countersign could not read this repository's deployment environments from Bitbucket: ${error.message}` });
  }
}

/**
 * The policy, whether the caller may edit it, and enrolled keys with their revocation state for this
 * repository: every key for admins (who may revoke them), only their own for everyone else.
 */
export async function getSettings(deps: Deps, context: unknown) {
  const caller = callerOf(context);
  const [policy, permission, keys, environmentsFor] = await Promise.all([
    deps.gate.loadPolicy(caller.repository),
    deps.bitbucket.getMyPermission(caller.workspace, caller.repository),
    deps.keys.listKeys(),
    deploymentEnvironments(deps, caller.workspace, caller.repository),
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
    deploymentEnvironments: environmentsFor(policy),
    canEdit,
    keys: shown.map((key) => ({
        ...key,
        revocation: revoked.get(revocationId(key.accountId, key.keyId)) ?? null,
      })),
  };
}

/**
 * Saves a new policy version, rules and environment policies together. Repository admins only, as
 * Bitbucket says when asked as the caller. Without `environments` the edited version's are kept (a
 * client that knows nothing of them must not remove them); an empty list removes them all.
 */
export async function saveSettings(deps: Deps, payload: unknown, context: unknown) {
  const caller = callerOf(context);
  const { baseVersion, rules: rawRules, environments: rawEnvironments } = parsePayload(SavePayload, payload);
  const permission = await deps.bitbucket.getMyPermission(caller.workspace, caller.repository);
  if (permission !== 'admin') {
    throw new RequestError('FORBIDDEN', 'Only repository admins can change the Countersign policy; ask an admin of this repository.');
  }
  const rules = parseRules(rawRules);
  const edited = rawEnvironments === undefined ? undefined : parseEnvironments(rawEnvironments);
  const previous = baseVersion > 0 ? await deps.gate.loadPolicyVersion(caller.repository, baseVersion) : undefined;
  if (baseVersion > 0 && !previous) {
    throw new RequestError('CONFLICT', `There is no policy version ${baseVersion} to edit; reload to see the current policy, then save again.`);
  }
  const kept = edited ?? previous?.environments;
  // No environment policies are saved as none at all, so such a version hashes as versions before them did.
  const environments = kept && kept.length > 0 ? kept : undefined;
  const policy = await buildPolicy({ version: baseVersion + 1, rules, environments, savedAt: deps.now().toISOString(), savedBy: caller.accountId });
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
 * Checks a draft of rules and environment policies exactly as saving would, field by field, and
 * stores nothing: the editor asks as the admin types, so the schema lives only here and the app stays small.
 */
export async function checkPolicy(payload: unknown, context: unknown) {
  callerOf(context);
  return validateDraft(parsePayload(CheckPayload, payload));
}
