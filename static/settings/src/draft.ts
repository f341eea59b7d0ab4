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

/**
 * The errors to show: a field's once it has been touched (changed or left), an error about a whole
 * group or rule once any field inside it has, and every error after a save was tried. A new rule or
 * group shows none until then.
 */
export function visibleErrors(errors: FieldErrors, touched: ReadonlySet<string>, submitted: boolean): FieldErrors {
  if (submitted) return errors;
  const shown: FieldErrors = {};
  for (const [path, message] of Object.entries(errors)) {
    const inside = path === '' ? () => touched.size > 0 : () => [...touched].some((t) => t === path || t.startsWith(`${path}.`));
    if (inside()) shown[path] = message;
  }
  return shown;
}

/**
 * Touched paths after item `index` of the list at `listPath` ('' for the rules, '2.requirements' for a
 * rule's groups) was removed: the removed item's are forgotten and later items' move up one.
 */
export function forgetIndex(touched: ReadonlySet<string>, listPath: string, index: number): Set<string> {
  const prefix = listPath ? `${listPath}.` : '';
  const next = new Set<string>();
  for (const path of touched) {
    if (!path.startsWith(prefix)) {
      next.add(path);
      continue;
    }
    const [head, ...rest] = path.slice(prefix.length).split('.');
    const n = Number(head);
    if (!Number.isInteger(n) || n < index) next.add(path);
    else if (n > index) next.add([`${prefix}${n - 1}`, ...rest].join('.'));
  }
  return next;
}

/** Whether the draft differs from the saved rules (a draft equal to them once defaults are applied is not a change). */
export function isDirty(draft: RuleInput[], saved: Rule[]): boolean {
  const parsed = PolicyRules.safeParse(draft);
  return JSON.stringify(parsed.success ? parsed.data : draft) !== JSON.stringify(saved);
}

/** Saving these rules would ungate every branch that a saved rule gates now: the editor asks first. */
export function ungatesEverything(rules: readonly unknown[], saved: readonly unknown[]): boolean {
  return rules.length === 0 && saved.length > 0;
}
