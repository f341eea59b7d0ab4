import { z } from 'zod';
import { canonicalBytes, sha256Hex } from './crypto';
import { AccountId } from './formats';
import { RequestError } from './errors';
import { isValidBranchPattern, matchesBranchPattern } from './patterns';

export const LIMITS = {
  rules: 25,
  requirementsPerRule: 10,
  membersPerGroup: 100,
} as const;

export const Requirement = z
  .object({
    group: z.string().trim().min(1, 'Give the group a name').max(60, 'Group names are at most 60 characters'),
    members: z
      .array(AccountId)
      .min(1, 'A group needs at least one member')
      .max(LIMITS.membersPerGroup, `A group has at most ${LIMITS.membersPerGroup} members`)
      .refine((ids) => new Set(ids).size === ids.length, 'A member is listed twice'),
    count: z.number().int('The count is a whole number').min(1, 'At least 1 signature is required'),
  })
  .strict()
  .refine((r) => r.count <= r.members.length, {
    message: 'The count cannot exceed the number of members',
    path: ['count'],
  });
export type Requirement = z.infer<typeof Requirement>;

export const Rule = z
  .object({
    branchPattern: z
      .string()
      .trim()
      .min(1, 'Enter a branch name or pattern')
      .max(200, 'Branch patterns are at most 200 characters')
      .refine(isValidBranchPattern, 'Not a valid branch name or pattern (use * as the wildcard)'),
    requirements: z
      .array(Requirement)
      .min(1, 'A rule needs at least one requirement')
      .max(LIMITS.requirementsPerRule, `A rule has at most ${LIMITS.requirementsPerRule} requirements`)
      .refine(
        (reqs) => new Set(reqs.map((r) => r.group.toLowerCase())).size === reqs.length,
        'Two requirements share a group name',
      ),
    excludeAuthor: z.boolean().default(true),
    excludeCommitAuthors: z.boolean().default(false),
    rejectionsBlock: z.boolean().default(true),
    autoMerge: z.boolean().default(false),
    commitStatus: z.boolean().default(false),
  })
  .strict();
export type Rule = z.infer<typeof Rule>;

export const PolicyRules = z
  .array(Rule)
  .max(LIMITS.rules, `A repository has at most ${LIMITS.rules} rules`)
  .refine(
    (rules) => new Set(rules.map((r) => r.branchPattern)).size === rules.length,
    'Two rules have the same branch pattern; merge them into one',
  );

/** A saved policy version: what storage holds and statements name by `hash`. */
export const Policy = z
  .object({
    version: z.number().int().positive(),
    rules: PolicyRules,
    hash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    savedAt: z.string(),
    savedBy: AccountId,
  })
  .strict();
export type Policy = z.infer<typeof Policy>;

/** Parses rules from an editor or API call, with defaults applied; throws INVALID_POLICY listing every problem. */
export function parseRules(input: unknown): Rule[] {
  const parsed = PolicyRules.safeParse(input);
  if (!parsed.success) {
    throw new RequestError('INVALID_POLICY', `The policy is not valid: ${describeIssues(parsed.error)}.`);
  }
  return parsed.data;
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

/** The hash covers the version and the rules, so every saved version has its own. */
export async function policyHash(version: number, rules: Rule[]): Promise<string> {
  return `sha256:${await sha256Hex(canonicalBytes({ version, rules }))}`;
}

export async function buildPolicy(args: {
  version: number;
  rules: Rule[];
  savedAt: string;
  savedBy: string;
}): Promise<Policy> {
  return { ...args, hash: await policyHash(args.version, args.rules) };
}

/** Re-derives the hash so a tampered stored policy is noticed rather than trusted. */
export async function hasIntactHash(policy: Policy): Promise<boolean> {
  return policy.hash === (await policyHash(policy.version, policy.rules));
}

export function rulesFor(policy: Policy | undefined, targetBranch: string): Rule[] {
  return policy ? policy.rules.filter((rule) => matchesBranchPattern(rule.branchPattern, targetBranch)) : [];
}
