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
