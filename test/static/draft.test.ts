import { parseRules, RequestError } from '../../src/core';
import { aNewRequirement, aNewRule, validateDraft } from '../../static/settings/src/draft';
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
