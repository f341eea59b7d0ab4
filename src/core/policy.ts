import * as z from 'zod/mini';
import { canonicalBytes, sha256Hex } from './crypto';
import { AccountId } from './formats';
import { EnvironmentPolicies, type EnvironmentPolicy } from './environmentPolicy';
import { LIMITS, Requirement } from './requirement';
import { RequestError } from './errors';
import { isValidBranchPattern, matchesBranchPattern, refNameProblem } from './patterns';

/** The merge strategies a rule may auto-merge with, as Bitbucket's merge API names them. */
export const MERGE_STRATEGIES = ['merge_commit', 'squash', 'fast_forward'] as const;
export type MergeStrategy = (typeof MERGE_STRATEGIES)[number];

export { LIMITS, Requirement };

export const Rule = z.strictObject({
  branchPattern: z
    .string()
    .check(
      z.trim(),
      z.minLength(1, 'Enter a branch name or pattern'),
      z.maxLength(200, 'Branch patterns are at most 200 characters'),
      z.refine(isValidBranchPattern, 'Not a valid branch name or pattern (use * as the wildcard)'),
    ),
  requirements: z
    .array(Requirement)
    .check(
      z.minLength(1, 'A rule needs at least one requirement'),
      z.maxLength(LIMITS.requirementsPerRule, `A rule has at most ${LIMITS.requirementsPerRule} requirements`),
      z.refine(
        (reqs) => new Set(reqs.map((r) => r.group.toLowerCase())).size === reqs.length,
        'Two requirements share a group name',
      ),
    ),
  excludeAuthor: z._default(z.boolean(), true),
  excludeCommitAuthors: z._default(z.boolean(), false),
  rejectionsBlock: z._default(z.boolean(), true),
  autoMerge: z._default(z.boolean(), false),
  commitStatus: z._default(z.boolean(), false),
  /**
   * How `autoMerge` merges (Bitbucket's `merge_strategy`). Optional with no default, so policies saved
   * before it existed keep their hash; absent means a merge commit.
   */
  mergeStrategy: z.optional(z.enum(MERGE_STRATEGIES)),
});
export type Rule = z.infer<typeof Rule>;
/** A rule as an editor writes it, before defaults are applied. */
export type RuleInput = z.input<typeof Rule>;

export const PolicyRules = z
  .array(Rule)
  .check(
    z.maxLength(LIMITS.rules, `A repository has at most ${LIMITS.rules} rules`),
    z.refine(
      (rules) => new Set(rules.map((r) => r.branchPattern)).size === rules.length,
      'Two rules have the same branch pattern; merge them into one',
    ),
  );

/**
 * Rules as an admin writes them: the saved rules' schema, and no full ref name (`refs/heads/main`
 * would save, match no branch and leave the branch it names ungated). Only new input is held to it:
 * a policy saved before this check stays readable, so its repository is not locked out.
 */
export const EditedRules = PolicyRules.check((ctx) => {
  ctx.value.forEach((rule, index) => {
    const problem = refNameProblem(rule.branchPattern);
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: rule.branchPattern, path: [index, 'branchPattern'] });
  });
});

/** A saved policy version: what storage holds and statements name by `hash`. */
export const Policy = z.strictObject({
  version: z.int().check(z.positive()),
  rules: PolicyRules,
  /** Deployment environment policies; absent from versions saved before deployments were gated (their hashes stay as they were). */
  environments: z.optional(EnvironmentPolicies),
  hash: z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/)),
  savedAt: z.string(),
  savedBy: AccountId,
});
export type Policy = z.infer<typeof Policy>;

/** Parses rules from an editor or API call, with defaults applied; throws INVALID_POLICY listing every problem. */
export function parseRules(input: unknown): Rule[] {
  const parsed = EditedRules.safeParse(input);
  if (!parsed.success) {
    throw new RequestError('INVALID_POLICY', `The policy is not valid: ${describeIssues(parsed.error)}.`);
  }
  return parsed.data;
}

/** Field errors keyed by their path in the rules ("0.requirements.1.count"); "" holds errors about the whole list. */
export type FieldErrors = Record<string, string>;

export type RulesValidation = { ok: true; rules: Rule[] } | { ok: false; errors: FieldErrors; summary: string };

/** What `parseRules` would say of a draft, as the first error on each field: the settings editor shows these in place. */
export function validateRules(draft: unknown): RulesValidation {
  const parsed = EditedRules.safeParse(draft);
  if (parsed.success) return { ok: true, rules: parsed.data };
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) errors[issue.path.join('.')] ??= issueText(issue);
  return { ok: false, errors, summary: describeIssues(parsed.error) };
}

/** Parses environment policies from the editor, with defaults applied; throws INVALID_POLICY listing every problem. */
export function parseEnvironments(input: unknown): EnvironmentPolicy[] {
  const parsed = EnvironmentPolicies.safeParse(input);
  if (!parsed.success) {
    throw new RequestError('INVALID_POLICY', `The deployment environments are not valid: ${describeIssues(parsed.error)}.`);
  }
  return parsed.data;
}

export type EnvironmentsValidation = { ok: true; environments: EnvironmentPolicy[] } | { ok: false; errors: FieldErrors; summary: string };

/** What `parseEnvironments` would say of a draft, as the first error on each field ("0.requirements.1.count"). */
export function validateEnvironments(draft: unknown): EnvironmentsValidation {
  const parsed = EnvironmentPolicies.safeParse(draft);
  if (parsed.success) return { ok: true, environments: parsed.data };
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) errors[issue.path.join('.')] ??= issueText(issue);
  return { ok: false, errors, summary: describeIssues(parsed.error) };
}

/** What an editor's draft is judged to be: rules' errors keyed as `validateRules` keys them, environments' under "environments." ("environments.0.tags.1"; "environments" for the whole list). */
export type DraftValidation = { ok: true; rules: Rule[]; environments?: EnvironmentPolicy[] } | { ok: false; errors: FieldErrors; summary: string };

/** Checks the rules and (when the draft has them) the environment policies, as saving them would. */
export function validateDraft(draft: { rules: unknown; environments?: unknown }): DraftValidation {
  const rules = validateRules(draft.rules);
  const environments = draft.environments === undefined ? undefined : validateEnvironments(draft.environments);
  if (rules.ok && (!environments || environments.ok)) {
    return { ok: true, rules: rules.rules, ...(environments ? { environments: environments.environments } : {}) };
  }
  const errors: FieldErrors = rules.ok ? {} : { ...rules.errors };
  if (environments && !environments.ok) {
    for (const [path, message] of Object.entries(environments.errors)) errors[path ? `environments.${path}` : 'environments'] = message;
  }
  const summary = [rules.ok ? '' : rules.summary, environments && !environments.ok ? `deployment environments: ${environments.summary}` : ''].filter(Boolean).join('; ');
  return { ok: false, errors, summary };
}

export function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issueText(issue)}` : issueText(issue)))
    .join('; ');
}

/** zod/mini carries no locale, so the issues our schemas leave without a message are worded here. */
export function issueText(issue: z.core.$ZodIssue): string {
  if (issue.message && issue.message !== 'Invalid input') return issue.message;
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'too_small':
      return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}${sizeUnit(issue.origin)}`;
    case 'too_big':
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}${sizeUnit(issue.origin)}`;
    case 'invalid_format':
      return 'is not in the expected format';
    default:
      return issue.message;
  }
}

function sizeUnit(origin: string): string {
  return origin === 'string' ? ' characters' : origin === 'array' ? ' items' : '';
}

/** The hash covers the version, the rules and (when the version has them) the environment policies, so every saved version has its own. */
export async function policyHash(version: number, rules: Rule[], environments?: EnvironmentPolicy[]): Promise<string> {
  return `sha256:${await sha256Hex(canonicalBytes(environments === undefined ? { version, rules } : { version, rules, environments }))}`;
}

export async function buildPolicy(args: {
  version: number;
  rules: Rule[];
  environments?: EnvironmentPolicy[];
  savedAt: string;
  savedBy: string;
}): Promise<Policy> {
  const { environments, ...rest } = args;
  return { ...rest, ...(environments === undefined ? {} : { environments }), hash: await policyHash(args.version, args.rules, environments) };
}

/** Re-derives the hash so a tampered stored policy is noticed rather than trusted. */
export async function hasIntactHash(policy: Policy): Promise<boolean> {
  return policy.hash === (await policyHash(policy.version, policy.rules, policy.environments));
}

export function rulesFor(policy: Policy | undefined, targetBranch: string): Rule[] {
  return policy ? policy.rules.filter((rule) => matchesBranchPattern(rule.branchPattern, targetBranch)) : [];
}
