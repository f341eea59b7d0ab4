import { memberOf, membersPath, readJson, relativeLink, type BitbucketFetch, type Member, type Membership } from './bitbucketReads';

/**
 * The workspace's members, read lazily as the viewer, one page of 100 at a time and only as far as a
 * search needs. Bitbucket cannot filter members by name (its only filter is by email, for admins), so a
 * search matches the pages read so far and reads further pages until it has enough matches or has read
 * every member. Pages are kept, so the next search starts with everything read before.
 */
export class MemberDirectory {
  private readonly members: Member[] = [];
  private readonly seen = new Set<string>();
  private next: string | undefined;
  private reading: Promise<void> | undefined;
  /** Members in the workspace, as Bitbucket's `size` says; undefined until the first page. */
  total: number | undefined;

  constructor(
    private readonly fetch: BitbucketFetch,
    workspace: string,
    private readonly onPage: (members: Member[]) => void = () => undefined,
  ) {
    this.next = membersPath(workspace);
  }

  get complete(): boolean {
    return this.next === undefined;
  }

  get loaded(): number {
    return this.members.length;
  }

  /**
   * The first `wanted` members whose names match `query` (every word, anywhere in the name, ignoring
   * case and accents), reading pages until there are `wanted + 1` (to know whether there are more) or
   * none are left. `stillWanted` is asked before each page, so a search the person has moved on from
   * stops reading; `onProgress` hears of each page, with the matches found so far.
   */
  async search(query: string, wanted: number, options: { stillWanted?: () => boolean; onProgress?: (matchesSoFar: Member[]) => void } = {}): Promise<SearchResult> {
    const words = wordsOf(query);
    const matching = () => this.members.filter((m) => matchesWords(m.name, words));
    let found = matching();
    while (found.length <= wanted && !this.complete && (options.stillWanted?.() ?? true)) {
      await this.readPage();
      found = matching();
      options.onProgress?.(found.slice(0, wanted));
    }
    return { matches: found.slice(0, wanted), more: found.length > wanted || !this.complete, complete: this.complete, loaded: this.loaded, total: this.total };
  }

  /** Reads the next page; concurrent callers share one read. */
  private readPage(): Promise<void> {
    if (!this.next) return Promise.resolve();
    this.reading ??= (async () => {
      try {
        const page = await readJson<{ values: Membership[]; next?: string; size?: number }>(this.fetch, this.next!, "listing the workspace's members");
        const fresh = page.values.map(memberOf).filter((m): m is Member => m !== undefined && !this.seen.has(m.accountId));
        for (const m of fresh) this.seen.add(m.accountId);
        this.members.push(...fresh);
        this.total = page.size ?? this.total;
        this.next = relativeLink(page.next);
        this.onPage(fresh);
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}

export interface SearchResult {
  matches: Member[];
  /** More matches may be had by asking for more. */
  more: boolean;
  /** Every member has been read, so `matches` (with `more` false) is everyone who matches. */
  complete: boolean;
  loaded: number;
  total: number | undefined;
}

function fold(text: string): string {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

function wordsOf(query: string): string[] {
  return fold(query).split(/\s+/).filter(Boolean);
}

function matchesWords(name: string, words: string[]): boolean {
  const folded = fold(name);
  return words.every((w) => folded.includes(w));
}

/** Whether a name matches a search as the directory matches it. */
export function nameMatches(name: string, query: string): boolean {
  return matchesWords(name, wordsOf(query));
}

/** The line under the search box saying what was searched, for people and screen readers. */
export function searchSummary(query: string, result: SearchResult | undefined, searching: boolean): string {
  if (!result) return searching ? 'Searching the workspace…' : '';
  const of = result.total !== undefined ? ` of ${result.total.toLocaleString('en-US')}` : '';
  if (searching) return `Searching… read ${result.loaded.toLocaleString('en-US')}${of} members.`;
  if (result.matches.length === 0) return query.trim() ? `Nobody in the workspace matches “${query.trim()}”.` : 'Nobody to show.';
  const who = query.trim() ? `matching “${query.trim()}”` : 'in the workspace';
  return result.more ? `Showing the first ${result.matches.length} people ${who}.` : `${result.matches.length} ${result.matches.length === 1 ? 'person' : 'people'} ${who}.`;
}
