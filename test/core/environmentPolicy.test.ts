import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { buildPolicy, environmentPolicyFor, EnvironmentPolicies, EnvironmentPolicy, hasIntactHash, parseEnvironments, policyHash, refAllowed, RequestError, validateEnvironments } from '../../src/core';
import { anEnvironmentPolicy, ENVIRONMENTS } from '../fixtures/environmentPolicies';
import { aRule, PEOPLE } from '../fixtures/world';

/** The hash computed apart from the core: SHA-256 of the RFC 8785 (JCS) bytes, with Node's own hash. */
const jcsHash = (value: unknown) => `sha256:${createHash('sha256').update(canonicalize(value)!).digest('hex')}`;

const minimal = { environment: ENVIRONMENTS.production.uuid, name: 'Production', requirements: [{ group: 'Release managers', members: [PEOPLE.alice], count: 1 }] };

function refusal(input: unknown): RequestError {
  try {
    parseEnvironments(input);
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('parseEnvironments accepted it');
}

describe('environment policies', () => {
  describe('defaults', () => {
    it('lets any ref deploy, needs no merged pull request, and turns every separation of duties on', () => {
      expect(EnvironmentPolicy.parse(minimal)).toEqual({
        ...minimal,
        branches: [],
        tags: [],
        requireMergedPullRequest: false,
        excludeCommitAuthor: true,
        excludeMerger: true,
        excludePipelineStarter: true,
        rejectionsBlock: true,
      });
    });

    it('keeps what is given over the defaults', () => {
      const given = { ...minimal, requireMergedPullRequest: true, excludeCommitAuthor: false, excludeMerger: false, excludePipelineStarter: false, rejectionsBlock: false };
      expect(EnvironmentPolicy.parse(given)).toMatchObject(given);
    });
  });

  describe('ref patterns', () => {
    it('trims them and takes Bitbucket pattern syntax', () => {
      expect(EnvironmentPolicy.parse({ ...minimal, branches: [' main ', 'release/*'], tags: ['v*'] })).toMatchObject({ branches: ['main', 'release/*'], tags: ['v*'] });
    });

    it.each([
      ['a full branch ref', { branches: ['refs/heads/main'] }, '0.branches.0', 'without "refs/'],
      ['a full tag ref', { tags: ['refs/tags/v1.0'] }, '0.tags.0', 'without "refs/'],
      ['an empty pattern', { tags: ['  '] }, '0.tags.0', 'Enter a name or pattern'],
      ['a pattern with a space', { branches: ['has space'] }, '0.branches.0', 'Not a valid name or pattern'],
      ['a pattern listed twice', { tags: ['v*', 'v*'] }, '0.tags', 'listed twice'],
      ['too many patterns', { branches: Array.from({ length: 26 }, (_, n) => `b${n}`) }, '0.branches', 'At most 25 patterns'],
    ])('refuses %s, naming the field', (_what, overrides, field, text) => {
      const error = refusal([{ ...minimal, ...overrides }]);
      expect(error.code).toBe('INVALID_POLICY');
      expect(error.message).toContain(`${field}: `);
      expect(error.message).toContain(text);
    });
  });

  describe('refAllowed', () => {
    const policy = (branches: string[], tags: string[]) => EnvironmentPolicy.parse({ ...minimal, branches, tags });

    it('lets any ref, or none named, deploy when both lists are empty', () => {
      const open = policy([], []);
      expect(refAllowed(open, { type: 'branch', name: 'anything' })).toBe(true);
      expect(refAllowed(open, { type: 'tag', name: 'v1' })).toBe(true);
      expect(refAllowed(open, undefined)).toBe(true);
    });

    it('matches branches against the branch patterns only', () => {
      const branches = policy(['main', 'release/*'], []);
      expect(refAllowed(branches, { type: 'branch', name: 'main' })).toBe(true);
      expect(refAllowed(branches, { type: 'branch', name: 'release/2026.11' })).toBe(true);
      expect(refAllowed(branches, { type: 'branch', name: 'feature/x' })).toBe(false);
      // A tag named like an allowed branch is still a tag, and no tag is allowed.
      expect(refAllowed(branches, { type: 'tag', name: 'main' })).toBe(false);
    });

    it('matches tags against the tag patterns only', () => {
      const tags = policy([], ['v*']);
      expect(refAllowed(tags, { type: 'tag', name: 'v1.2.0' })).toBe(true);
      expect(refAllowed(tags, { type: 'tag', name: 'nightly' })).toBe(false);
      expect(refAllowed(tags, { type: 'branch', name: 'v1' })).toBe(false);
    });

    it('refuses a deployment whose ref is not known once either list restricts refs', () => {
      expect(refAllowed(policy(['main'], []), undefined)).toBe(false);
      expect(refAllowed(policy([], ['v*']), undefined)).toBe(false);
    });
  });

  describe('the list', () => {
    it('refuses two policies for one environment', () => {
      const error = refusal([minimal, { ...minimal, name: 'Production again' }]);
      expect(error.message).toContain('An environment has two policies');
      expect(validateEnvironments([minimal, minimal])).toMatchObject({ ok: false, errors: { '': 'An environment has two policies; merge them into one' } });
    });

    it('refuses more environments than a repository may gate', () => {
      const many = Array.from({ length: 26 }, (_, n) => ({ ...minimal, environment: `{00000000-0000-4000-8000-${String(n).padStart(12, '0')}}` }));
      expect(EnvironmentPolicies.safeParse(many).success).toBe(false);
      expect(EnvironmentPolicies.safeParse(many.slice(0, 25)).success).toBe(true);
    });

    it('finds the policy of one environment by UUID', () => {
      const staging = EnvironmentPolicy.parse({ ...minimal, environment: ENVIRONMENTS.staging.uuid, name: 'Staging' });
      const production = EnvironmentPolicy.parse(minimal);
      expect(environmentPolicyFor([staging, production], ENVIRONMENTS.production.uuid)).toBe(production);
      expect(environmentPolicyFor([staging], ENVIRONMENTS.production.uuid)).toBeUndefined();
      expect(environmentPolicyFor(undefined, ENVIRONMENTS.production.uuid)).toBeUndefined();
    });
  });

  describe('in the policy hash', () => {
    const savedAt = '2026-11-22T10:00:00.000Z';

    it('leaves the hash of a policy without environments as it was: SHA-256 of the JCS of {version, rules}', async () => {
      const policy = await buildPolicy({ version: 3, rules: [aRule()], savedAt, savedBy: PEOPLE.admin });
      expect(policy).not.toHaveProperty('environments');
      expect(policy.hash).toBe(jcsHash({ version: 3, rules: [aRule()] }));
      expect(await policyHash(3, [aRule()])).toBe(policy.hash);
    });

    it('covers the environment policies when the version has them', async () => {
      const environments = [anEnvironmentPolicy()];
      const policy = await buildPolicy({ version: 3, rules: [aRule()], environments, savedAt, savedBy: PEOPLE.admin });
      expect(policy.hash).toBe(jcsHash({ version: 3, rules: [aRule()], environments }));
      expect(await hasIntactHash(policy)).toBe(true);
    });

    it.each([
      ['a tag pattern', { tags: ['v2*'] }],
      ['a count', { requirements: [{ group: 'Release managers', members: [PEOPLE.alice, PEOPLE.bob], count: 1 }] }],
      ['a separation of duties', { excludeMerger: false }],
      ['the merged pull request requirement', { requireMergedPullRequest: true }],
    ])('changes when %s changes, and a stored policy edited so is noticed', async (_what, change) => {
      const base = await buildPolicy({ version: 3, rules: [aRule()], environments: [anEnvironmentPolicy()], savedAt, savedBy: PEOPLE.admin });
      const changed = await buildPolicy({ version: 3, rules: [aRule()], environments: [anEnvironmentPolicy(change)], savedAt, savedBy: PEOPLE.admin });
      expect(changed.hash).not.toBe(base.hash);
      expect(await hasIntactHash({ ...base, environments: changed.environments })).toBe(false);
    });

    it('tells an empty list from none', async () => {
      expect(await policyHash(3, [aRule()], [])).not.toBe(await policyHash(3, [aRule()]));
    });
  });
});
