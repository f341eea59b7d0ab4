import { describeIssues, issueText, PolicyRules, type Rule, type RuleInput } from '../../../src/core/policy';

/** Field errors keyed by their path in the rules ("0.requirements.1.count"); "" holds errors about the whole list. */
export type FieldErrors = Record<string, string>;

export type Validation = { ok: true; rules: Rule[] } | { ok: false; errors: FieldErrors; summary: string };

/** Checks the draft with the very schema the backend saves with, so the editor and the server never disagree. */
export function validateDraft(draft: RuleInput[]): Validation {
  const parsed = PolicyRules.safeParse(draft);
  if (parsed.success) return { ok: true, rules: parsed.data };
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const path = issue.path.join('.');
    errors[path] ??= issueText(issue);
  }
  return { ok: false, errors, summary: describeIssues(parsed.error) };
}

export function aNewRule(existing: RuleInput[]): RuleInput {
  const taken = new Set(existing.map((r) => r.branchPattern));
  const branchPattern = taken.has('main') ? '' : 'main';
  return { branchPattern, requirements: [{ group: 'Maintainers', members: [], count: 1 }] };
}

export function aNewRequirement(existing: RuleInput['requirements']): RuleInput['requirements'][number] {
  let n = existing.length + 1;
  while (existing.some((r) => r.group.toLowerCase() === `group ${n}`)) n++;
  return { group: `Group ${n}`, members: [], count: 1 };
}
