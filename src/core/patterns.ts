/**
 * Branch patterns as Bitbucket Cloud's branch permissions and merge checks use them
 * (support.atlassian.com/bitbucket-cloud/docs/use-branch-permissions, "Branch patterns"):
 * a pattern is a branch name in which `*` stands for any run of characters, `/` included
 * ("matches ... even in a name space"), matched against the whole branch name, case-sensitively.
 * No other character is special, so `release/1.?` only matches a branch literally named so.
 */
export function matchesBranchPattern(pattern: string, branch: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === branch;

  const first = parts[0] ?? '';
  const last = parts[parts.length - 1] ?? '';
  if (branch.length < first.length + last.length) return false;
  if (!branch.startsWith(first) || !branch.endsWith(last)) return false;

  // Greedy left-to-right placement of the middle literals is optimal for `*`-only globs.
  let cursor = first.length;
  const end = branch.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const found = branch.indexOf(middle, cursor);
    if (found === -1 || found + middle.length > end) return false;
    cursor = found + middle.length;
  }
  return true;
}

const BRANCH_PATTERN = /^[^\s~^:?[\\\x00-\x1f\x7f]+$/;

/** Whether a pattern could ever match a git branch name (no spaces, control or git-forbidden characters). */
export function isValidBranchPattern(pattern: string): boolean {
  return BRANCH_PATTERN.test(pattern) && !pattern.includes('..') && !pattern.startsWith('/') && !pattern.endsWith('/');
}

/**
 * A full ref name such as `refs/heads/main` is not a branch pattern: Bitbucket matches patterns against
 * branch names, so it would gate no branch and leave `main` ungated. Says what to write instead, or
 * undefined when the pattern is fine as it is.
 */
export function refNameProblem(pattern: string): string | undefined {
  if (pattern.startsWith('refs/heads/') && pattern.length > 'refs/heads/'.length) {
    return `Write the branch name without "refs/heads/": ${pattern.slice('refs/heads/'.length)}`;
  }
  if (pattern.startsWith('refs/')) return 'Branch patterns match branch names, not refs such as refs/tags/…; write a branch name or pattern';
  return undefined;
}
