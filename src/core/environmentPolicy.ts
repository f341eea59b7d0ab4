import * as z from 'zod/mini';
import { BitbucketUuid } from './formats';
import { isValidBranchPattern, matchesBranchPattern } from './patterns';
import { Requirements } from './requirement';

/** How many deployment environments one repository's policy may gate, and refs per list. */
export const ENVIRONMENT_LIMITS = { environments: 25, patterns: 25 } as const;

const RefPattern = z
  .string()
  .check(
    z.trim(),
    z.minLength(1, 'Enter a name or pattern'),
    z.maxLength(200, 'Patterns are at most 200 characters'),
    z.refine(isValidBranchPattern, 'Not a valid name or pattern (use * as the wildcard)'),
    z.refine((p) => !p.startsWith('refs/'), 'Write the branch or tag name without "refs/…"'),
  );

const RefPatterns = z
  .array(RefPattern)
  .check(
    z.maxLength(ENVIRONMENT_LIMITS.patterns, `At most ${ENVIRONMENT_LIMITS.patterns} patterns`),
    z.refine((ps) => new Set(ps).size === ps.length, 'A pattern is listed twice'),
  );

/**
 * Who may let a commit reach one deployment environment (Bitbucket's, by UUID; its name is kept for
 * people to read). Requirements count as for merges. `branches` and `tags` list the refs a deployment
 * may come from; with both empty any ref may. Separation of duties leaves out the commit's author,
 * the person who merged the pull request that brought it, and whoever started the pipeline.
 */
export const EnvironmentPolicy = z.strictObject({
  environment: BitbucketUuid,
  name: z.string().check(z.trim(), z.minLength(1, 'Name the environment'), z.maxLength(100, 'Environment names are at most 100 characters')),
  requirements: Requirements,
  branches: z._default(RefPatterns, []),
  tags: z._default(RefPatterns, []),
  /** The commit must be one a pull request brought onto its target branch with its merge quorum met (as the ledger recorded). */
  requireMergedPullRequest: z._default(z.boolean(), false),
  excludeCommitAuthor: z._default(z.boolean(), true),
  excludeMerger: z._default(z.boolean(), true),
  excludePipelineStarter: z._default(z.boolean(), true),
  rejectionsBlock: z._default(z.boolean(), true),
});
export type EnvironmentPolicy = z.infer<typeof EnvironmentPolicy>;
export type EnvironmentPolicyInput = z.input<typeof EnvironmentPolicy>;

export const EnvironmentPolicies = z
  .array(EnvironmentPolicy)
  .check(
    z.maxLength(ENVIRONMENT_LIMITS.environments, `A repository gates at most ${ENVIRONMENT_LIMITS.environments} environments`),
    z.refine((envs) => new Set(envs.map((e) => e.environment)).size === envs.length, 'An environment has two policies; merge them into one'),
  );

/** A git ref a pipeline ran for, as Bitbucket names it (`target.ref_type` / `ref_name`). */
export interface DeploymentRef {
  type: 'branch' | 'tag';
  name: string;
}

/** Whether a deployment may come from this ref at all (before anyone signs). */
export function refAllowed(policy: EnvironmentPolicy, ref: DeploymentRef | undefined): boolean {
  if (policy.branches.length === 0 && policy.tags.length === 0) return true;
  if (!ref) return false;
  const patterns = ref.type === 'branch' ? policy.branches : policy.tags;
  return patterns.some((pattern) => matchesBranchPattern(pattern, ref.name));
}

export function environmentPolicyFor(environments: EnvironmentPolicy[] | undefined, environment: string): EnvironmentPolicy | undefined {
  return environments?.find((e) => e.environment === environment);
}
