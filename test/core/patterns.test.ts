import fc from 'fast-check';
import { isValidBranchPattern, matchesBranchPattern, refNameProblem } from '../../src/core';

describe('matchesBranchPattern', () => {
  it.each([
    ['main', 'main', true],
    ['main', 'main2', false],
    ['main', 'feature/main', false],
    ['release/*', 'release/1.0', true],
    ['release/*', 'release/1.0/hotfix', true],
    ['release/*', 'release', false],
    ['release/*', 'prerelease/1.0', false],
    ['PROJECT-*', 'PROJECT-1234', true],
    ['PROJECT-*', 'project-1234', false],
    ['*-stable', 'v2-stable', true],
    ['*', 'anything/at/all', true],
    ['feature/*/ui', 'feature/a/b/ui', true],
    ['feature/*/ui', 'feature/ui', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['release/1.?', 'release/1.2', false],
    ['release/1.?', 'release/1.?', true],
  ])('%s against %s is %s', (pattern, branch, expected) => {
    expect(matchesBranchPattern(pattern, branch)).toBe(expected);
  });

  const segment = fc.stringMatching(/^[a-z0-9./-]{0,8}$/);

  it('matches a pattern without * only against itself', () => {
    fc.assert(fc.property(segment, segment, (a, b) => matchesBranchPattern(a, b) === (a === b)));
  });

  it('matches prefix* against every extension of the prefix', () => {
    fc.assert(fc.property(segment, segment, (prefix, rest) => matchesBranchPattern(`${prefix}*`, prefix + rest)));
  });

  it('agrees with an equivalent regular expression', () => {
    const pattern = fc.array(fc.oneof(segment, fc.constant('*')), { maxLength: 5 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(pattern, segment, (p, branch) => {
        const regex = new RegExp(`^${p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
        return matchesBranchPattern(p, branch) === regex.test(branch);
      }),
    );
  });
});

describe('isValidBranchPattern', () => {
  it.each(['main', 'release/*', '*', 'feature/JIRA-1_x'])('accepts %s', (p) => expect(isValidBranchPattern(p)).toBe(true));
  it.each(['', 'has space', 'a..b', '/lead', 'trail/', 'ctl\u0001', 'what?', 'x~1'])('refuses %j', (p) => expect(isValidBranchPattern(p)).toBe(false));
});

describe('refNameProblem', () => {
  it('says which branch name to write for refs/heads/…', () => expect(refNameProblem('refs/heads/main')).toBe('Write the branch name without "refs/heads/": main'));
  it.each(['refs/tags/v1', 'refs/heads/', 'refs/pull/1'])('refuses other refs such as %s', (p) => expect(refNameProblem(p)).toMatch(/branch/));
  it.each(['main', 'release/*', 'feature/refs/heads/x', 'refs'])('has nothing to say about %s', (p) => expect(refNameProblem(p)).toBeUndefined());
});
