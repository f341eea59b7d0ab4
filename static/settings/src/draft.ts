import type { EnvironmentPolicyInput } from '../../../src/core/environmentPolicy';
import type { FieldErrors, RuleInput } from '../../../src/core/policy';
import type { DeploymentEnvironment } from '../../../src/ports';

/** What the editor edits: merge rules and deployment environment policies, saved together as one version. */
export interface PolicyDraft {
  rules: RuleInput[];
  environments: EnvironmentPolicyInput[];
}

export function aNewRule(existing: RuleInput[]): RuleInput {
  const taken = new Set(existing.map((r) => r.branchPattern));
  const branchPattern = taken.has('main') ? '' : 'main';
  return { branchPattern, requirements: [{ group: 'Maintainers', members: [], count: 1 }] };
}

export function aNewEnvironmentPolicy(environment: DeploymentEnvironment): EnvironmentPolicyInput {
  return { environment: environment.uuid, name: environment.name, requirements: [{ group: 'Approvers', members: [], count: 1 }], branches: [], tags: [] };
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

/**
 * Whether the draft differs from what is saved. `normalised` is the draft as the backend read it
 * (defaults applied), when it is valid: a draft equal to the saved policy once defaults apply is no change.
 */
export function isDirty<T>(draft: unknown, normalised: T | undefined, saved: T): boolean {
  return JSON.stringify(normalised ?? draft) !== JSON.stringify(saved);
}

/** Saving these rules would ungate every branch that a saved rule gates now: the editor asks first. */
export function ungatesEverything(rules: readonly unknown[], saved: readonly unknown[]): boolean {
  return rules.length === 0 && saved.length > 0;
}
