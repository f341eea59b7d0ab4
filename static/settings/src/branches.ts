import { matchesBranchPattern } from '../../../src/core/patterns';
import { branchesPath, readJson, relativeLink, type BitbucketFetch } from './bitbucketReads';

/** Pages read at most per pattern: past 1,000 candidate branches the page stops looking and says it could not tell. */
const MAX_PAGES = 10;

export type PatternCoverage = { kind: 'matches'; example: string } | { kind: 'none' } | { kind: 'unknown'; reason: string };

/**
 * The narrowest Bitbucket query (BBQL) that returns every branch a pattern can match: the exact name
 * when there is no `*`, else branches containing each of the pattern's literal parts (`~` is Bitbucket's
 * case-insensitive "contains"); none for a pattern of only `*`s, which matches any branch.
 */
export function branchQueryFor(pattern: string): string | undefined {
  const quote = (text: string) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  if (!pattern.includes('*')) return `name = ${quote(pattern)}`;
  const parts = [...new Set(pattern.split('*').filter(Boolean))];
  return parts.length ? parts.map((p) => `name ~ ${quote(p)}`).join(' AND ') : undefined;
}

/**
 * Whether any of the repository's branches matches `pattern`, read as the viewer: the branches
 * Bitbucket's query narrows to, checked with the very matcher the merge check uses. Answers are kept
 * per pattern for the life of the page.
 */
export class BranchChecker {
  private readonly known = new Map<string, Promise<PatternCoverage>>();

  constructor(
    private readonly fetch: BitbucketFetch,
    private readonly workspace: string,
    private readonly repository: string,
  ) {}

  coverage(pattern: string): Promise<PatternCoverage> {
    let answer = this.known.get(pattern);
    if (!answer) {
      answer = this.look(pattern).catch((error: Error) => {
        this.known.delete(pattern);
        return { kind: 'unknown' as const, reason: `Could not read this repository's branches (${error.message}).` };
      });
      this.known.set(pattern, answer);
    }
    return answer;
  }

  private async look(pattern: string): Promise<PatternCoverage> {
    let path: string | undefined = branchesPath(this.workspace, this.repository, branchQueryFor(pattern));
    for (let page = 0; path && page < MAX_PAGES; page++) {
      const body: { values: { name: string }[]; next?: string } = await readJson(this.fetch, path, "listing this repository's branches");
      const hit = body.values.find((b) => matchesBranchPattern(pattern, b.name));
      if (hit) return { kind: 'matches', example: hit.name };
      path = relativeLink(body.next);
    }
    return path ? { kind: 'unknown', reason: `More than ${MAX_PAGES * 100} branches could match; none of the first ${MAX_PAGES * 100} does.` } : { kind: 'none' };
  }
}

/** The warning for a pattern that gates nothing yet, or undefined. */
export function coverageWarning(pattern: string, coverage: PatternCoverage | undefined): string | undefined {
  if (coverage?.kind !== 'none') return undefined;
  return `No branch in this repository matches “${pattern}” yet, so this rule gates nothing until one does. Check the spelling (patterns are case-sensitive).`;
}
