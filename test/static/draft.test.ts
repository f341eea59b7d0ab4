import { parseRules, RequestError } from '../../src/core';
import { aNewRequirement, aNewRule, forgetIndex, isDirty, ungatesEverything, validateDraft, visibleErrors } from '../../static/settings/src/draft';
import { aRule, PEOPLE } from '../fixtures/world';

describe('the settings editor draft', () => {
  it('accepts what the backend accepts, with the same defaults applied', () => {
    const draft = [{ branchPattern: 'release/*', requirements: [{ group: 'Security', members: [PEOPLE.carol], count: 1 }] }];
    const validation = validateDraft(draft);
    expect(validation).toEqual({ ok: true, rules: parseRules(draft) });
  });

  it('puts each error on the field it belongs to', () => {
    const validation = validateDraft([
      aRule(),
      { branchPattern: ' ', requirements: [{ group: '', members: [], count: 0 }, { group: 'Ops', members: [PEOPLE.alice], count: 2 }] },
    ]);
    expect(validation.ok).toBe(false);
    if (validation.ok) return;
    expect(validation.errors).toMatchObject({
      '1.branchPattern': 'Enter a branch name or pattern',
      '1.requirements.0.group': 'Give the group a name',
      '1.requirements.0.members': 'A group needs at least one member',
      '1.requirements.0.count': 'At least 1 signature is required',
      '1.requirements.1.count': 'The count cannot exceed the number of members',
    });
    expect(validation.errors['0.branchPattern']).toBeUndefined();
  });

  it('reports problems with the whole list at the top', () => {
    const validation = validateDraft([aRule(), aRule()]);
    expect(validation).toMatchObject({ ok: false, errors: { '': 'Two rules have the same branch pattern; merge them into one' } });
  });

  it('refuses exactly the drafts the backend refuses', () => {
    const drafts = [[aRule({ requirements: [] })], [aRule({ branchPattern: 'main[' })], [{ ...aRule(), extra: true }]];
    for (const draft of drafts) {
      expect(validateDraft(draft as never).ok).toBe(false);
      expect(() => parseRules(draft)).toThrow(RequestError);
    }
  });

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

  it('calls a draft dirty only when it differs from what is saved, defaults applied', () => {
    const { excludeAuthor: _a, excludeCommitAuthors: _b, rejectionsBlock: _c, autoMerge: _d, commitStatus: _e, ...bare } = saved[0]!;
    expect(isDirty([bare], saved)).toBe(false);
    expect(isDirty([{ ...bare, branchPattern: 'develop' }], saved)).toBe(true);
    expect(isDirty([], saved)).toBe(true);
    expect(isDirty([], [])).toBe(false);
    expect(isDirty([{ ...bare, branchPattern: '' }], saved)).toBe(true);
  });

  it('asks before a save that would remove the last rule, and only then', () => {
    expect(ungatesEverything([], saved)).toBe(true);
    expect(ungatesEverything([], [])).toBe(false);
    expect(ungatesEverything(saved, saved)).toBe(false);
  });
});
