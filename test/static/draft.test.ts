import { parseRules, validateRules, type RuleInput } from '../../src/core';
import { aNewRequirement, aNewRule, forgetIndex, isDirty, ungatesEverything, visibleErrors } from '../../static/settings/src/draft';
import { aRule, PEOPLE } from '../fixtures/world';

describe('the settings editor draft', () => {
  it('starts a new rule on main, then on a blank pattern once main is taken', () => {
    expect(aNewRule([]).branchPattern).toBe('main');
    expect(aNewRule([aRule()]).branchPattern).toBe('');
  });

  it('names a new group so it does not clash with an existing one', () => {
    expect(aNewRequirement([{ group: 'Group 2', members: [], count: 1 }]).group).toBe('Group 3');
  });
});

describe('when the editor shows errors', () => {
  const errors = { '': 'Two rules have the same branch pattern; merge them into one', '0.branchPattern': 'Enter a branch name or pattern', '0.requirements.0.members': 'A group needs at least one member', '0.requirements': 'Two requirements share a group name', '1.requirements.0.count': 'At least 1 signature is required' };

  it('shows none for a new rule or group until a field is touched', () => {
    expect(visibleErrors(errors, new Set(), false)).toEqual({});
  });

  it("shows a touched field's error, and errors about what contains it, but not its neighbours'", () => {
    expect(visibleErrors(errors, new Set(['0.requirements.0.members']), false)).toEqual({
      '': errors[''],
      '0.requirements.0.members': errors['0.requirements.0.members'],
      '0.requirements': errors['0.requirements'],
    });
    // "0.requirements.1" is not inside "0.requirements.10"'s sibling "0.requirements.1x": prefixes stop at dots.
    expect(visibleErrors({ '0.requirements.1': 'x' }, new Set(['0.requirements.10.group']), false)).toEqual({});
  });

  it('shows every error once a save was tried', () => {
    expect(visibleErrors(errors, new Set(), true)).toEqual(errors);
  });

  it('moves touched marks with the items when one is removed', () => {
    const touched = new Set(['0.branchPattern', '1.requirements.0.count', '2.branchPattern', '2.requirements.1.group']);
    expect([...forgetIndex(touched, '', 1)].sort()).toEqual(['0.branchPattern', '1.branchPattern', '1.requirements.1.group']);
    expect([...forgetIndex(touched, '2.requirements', 0)].sort()).toEqual(['0.branchPattern', '1.requirements.0.count', '2.branchPattern', '2.requirements.0.group']);
  });
});

describe('unsaved changes and emptying the policy', () => {
  const saved = parseRules([aRule()]);

  it('calls a draft dirty only when it differs from what is saved, defaults applied (as the backend check applies them)', () => {
    const { excludeAuthor: _a, excludeCommitAuthors: _b, rejectionsBlock: _c, autoMerge: _d, commitStatus: _e, ...bare } = saved[0]!;
    const normalised = (draft: RuleInput[]) => { const v = validateRules(draft); return v.ok ? v.rules : undefined; };
    expect(isDirty([bare], normalised([bare]), saved)).toBe(false);
    // Before the check has answered, only an exact copy of the saved rules is clean.
    expect(isDirty([bare], undefined, saved)).toBe(true);
    expect(isDirty(saved, undefined, saved)).toBe(false);
    const develop = [{ ...bare, branchPattern: 'develop' }];
    expect(isDirty(develop, normalised(develop), saved)).toBe(true);
    expect(isDirty([], normalised([]), saved)).toBe(true);
    expect(isDirty([], normalised([]), [])).toBe(false);
    const blank = [{ ...bare, branchPattern: '' }];
    expect(isDirty(blank, normalised(blank), saved)).toBe(true);
  });

  it('asks before a save that would remove the last rule, and only then', () => {
    expect(ungatesEverything([], saved)).toBe(true);
    expect(ungatesEverything([], [])).toBe(false);
    expect(ungatesEverything(saved, saved)).toBe(false);
  });
});
