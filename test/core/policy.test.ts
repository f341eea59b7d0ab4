import * as z from 'zod/mini';
import { BranchName, buildPolicy, describeIssues, EditedRules, hasIntactHash, parseRules, Policy, PolicyRules, policyHash, PullRequestId, rulesFor, RequestError } from '../../src/core';
import { aRule, PEOPLE } from '../fixtures/world';

describe('policy', () => {
  describe('parseRules', () => {
    it('applies the documented defaults', () => {
      const [rule] = parseRules([{ branchPattern: 'main', requirements: [{ group: 'Maintainers', members: [PEOPLE.alice], count: 1 }] }]);
      expect(rule).toMatchObject({ excludeAuthor: true, excludeCommitAuthors: false, rejectionsBlock: true, autoMerge: false, commitStatus: false });
    });

    it.each([
      ['a count above the members', [aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice], count: 2 }] })], 'count cannot exceed'],
      ['a zero count', [aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice], count: 0 }] })], 'At least 1'],
      ['a duplicate member', [aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice, PEOPLE.alice], count: 1 }] })], 'listed twice'],
      ['duplicate groups', [aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice], count: 1 }, { group: 'm', members: [PEOPLE.bob], count: 1 }] })], 'share a group name'],
      ['duplicate patterns', [aRule(), aRule()], 'same branch pattern'],
      ['a bad pattern', [aRule({ branchPattern: 'has space' })], 'Not a valid branch'],
      ['no requirements', [aRule({ requirements: [] })], 'at least one requirement'],
      ['an unknown field', [{ ...aRule(), approveEverything: true }], 'approveEverything'],
      ['a full ref name', [aRule({ branchPattern: 'refs/heads/main' })], 'without "refs/heads/": main'],
      ['a tag ref', [aRule({ branchPattern: 'refs/tags/v1' })], 'not refs such as refs/tags'],
      ['a bad account id', [aRule({ requirements: [{ group: 'M', members: ['<script>'], count: 1 }] })], 'Atlassian account ID'],
    ])('refuses %s with INVALID_POLICY', (_what, rules, text) => {
      let error: unknown;
      try {
        parseRules(rules);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RequestError);
      expect((error as RequestError).code).toBe('INVALID_POLICY');
      expect((error as RequestError).message).toContain(text);
    });
  });

  it('names the field and the fix for a ref name, after trimming', () => {
    const parsed = EditedRules.safeParse([aRule({ branchPattern: ' refs/heads/release/* ' })]);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues).toEqual([expect.objectContaining({ path: [0, 'branchPattern'], message: 'Write the branch name without "refs/heads/": release/*' })]);
    // A branch that merely contains "refs" is still a branch.
    expect(EditedRules.safeParse([aRule({ branchPattern: 'feature/refs/heads' })]).success).toBe(true);
  });

  it('still reads a policy saved with a ref name before that was refused, so its repository is not locked out', async () => {
    const rules = PolicyRules.parse([aRule({ branchPattern: 'refs/heads/main' })]);
    const saved = await buildPolicy({ version: 3, rules, savedAt: '2026-11-01T00:00:00.000Z', savedBy: '557058:admin' });
    expect(Policy.safeParse(saved).success).toBe(true);
    expect(() => parseRules(saved.rules)).toThrow('without "refs/heads/": main');
  });

  describe('hash', () => {
    it('is stable for the same version and rules, and changes with either', async () => {
      const rules = [aRule()];
      const h = await policyHash(1, rules);
      expect(h).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await policyHash(1, structuredClone(rules))).toBe(h);
      expect(await policyHash(2, rules)).not.toBe(h);
      expect(await policyHash(1, [aRule({ branchPattern: 'develop' })])).not.toBe(h);
    });

    it('notices a stored policy whose rules were changed after hashing', async () => {
      const policy = await buildPolicy({ version: 1, rules: [aRule()], savedAt: '2026-11-22T10:00:00.000Z', savedBy: PEOPLE.admin });
      expect(await hasIntactHash(policy)).toBe(true);
      policy.rules[0]!.requirements[0]!.count = 1;
      expect(await hasIntactHash(policy)).toBe(false);
    });
  });

  it('picks every rule whose pattern matches the target branch', async () => {
    const policy = await buildPolicy({ version: 1, rules: [aRule(), aRule({ branchPattern: '*' }), aRule({ branchPattern: 'release/*' })], savedAt: 'x', savedBy: PEOPLE.admin });
    expect(rulesFor(policy, 'main').map((r) => r.branchPattern)).toEqual(['main', '*']);
    expect(rulesFor(undefined, 'main')).toEqual([]);
  });

  describe('describeIssues', () => {
    it('words every issue in English, also where a schema gives no message of its own', () => {
      const schema = z.strictObject({ id: PullRequestId, branch: BranchName, tags: z.array(z.string()).check(z.maxLength(1)), name: z.string() });
      const result = z.safeParse(schema, { id: 0, branch: '', tags: ['a', 'b'], name: 7, extra: true });
      const text = describeIssues(result.error!);
      expect(text).toContain('id: must be more than 0');
      expect(text).toContain('branch: must be at least 1 characters');
      expect(text).toContain('tags: must be at most 1 items');
      expect(text).toContain('name: expected string');
      expect(text).toContain('unknown field "extra"');
      expect(text).not.toContain('Invalid input');
    });
  });
});
