import { BitbucketHttpError, FakeBitbucket } from '../../dev/fakeBitbucket';
import { DEMO, generatedMember, seedDemo } from '../../host/demo';
import type { BitbucketFetch } from '../../static/settings/src/bitbucketReads';
import { branchQueryFor, BranchChecker, coverageWarning } from '../../static/settings/src/branches';
import { MemberDirectory, nameMatches, searchSummary } from '../../static/settings/src/directory';
import { NameBook } from '../../static/settings/src/names';

/** The settings page's Bitbucket reads, run against the fake Bitbucket as `requestBitbucket` would reach it. */
function bitbucket(size: 'standard' | 'large' = 'large', as: string = DEMO.people.admin.accountId) {
  const bb = new FakeBitbucket();
  seedDemo(bb, size);
  const calls: string[] = [];
  const fetch: BitbucketFetch = async (path) => {
    calls.push(path);
    try {
      const { status, json } = bb.handle('GET', path, undefined, as);
      return { ok: true, status, json: async () => json };
    } catch (error) {
      if (!(error instanceof BitbucketHttpError)) throw error;
      return { ok: false, status: error.status, json: async () => ({ type: 'error', error: { message: error.message } }) };
    }
  };
  return { bb, fetch, calls };
}

describe('the member directory', () => {
  it('shows the first people after one page, without reading the rest of a 5,000-member workspace', async () => {
    const { fetch, calls } = bitbucket();
    const directory = new MemberDirectory(fetch, 'acme');
    const result = await directory.search('', 20);
    expect(result.matches).toHaveLength(20);
    expect(result.matches[0]).toEqual({ accountId: DEMO.people.author.accountId, name: 'Avery Chen' });
    expect(result).toMatchObject({ more: true, complete: false, loaded: 100, total: 5006 });
    expect(calls).toEqual(['/2.0/workspaces/acme/members?pagelen=100']);
  });

  it('reads further pages only until it has enough matches, and keeps what it read for the next search', async () => {
    const { fetch, calls } = bitbucket();
    const directory = new MemberDirectory(fetch, 'acme');
    // Member 4,000 is on page 41; a search for their full name must read that far, and no further.
    const target = generatedMember(4000);
    const found = await directory.search(target.displayName, 20);
    expect(found.matches).toContainEqual({ accountId: target.accountId, name: target.displayName });
    expect(found.complete).toBe(true);
    expect(calls).toHaveLength(51);
    const again = await directory.search('riley', 20);
    expect(again).toMatchObject({ matches: [{ name: 'Riley Park' }], more: false, complete: true });
    expect(calls).toHaveLength(51);
  });

  it('offers more when there are more matches than asked for, and gives them when asked', async () => {
    const { fetch } = bitbucket();
    const directory = new MemberDirectory(fetch, 'acme');
    const first = await directory.search('Sakura', 5);
    expect(first.matches).toHaveLength(5);
    expect(first.more).toBe(true);
    const more = await directory.search('Sakura', 10);
    expect(more.matches.slice(0, 5)).toEqual(first.matches);
    expect(more.matches).toHaveLength(10);
    expect(more.matches.every((m) => m.name.startsWith('Sakura '))).toBe(true);
  });

  it('stops reading pages for a search the person has moved on from', async () => {
    const { fetch, calls } = bitbucket();
    const directory = new MemberDirectory(fetch, 'acme');
    let pages = 0;
    const result = await directory.search('nobody has this name', 20, { stillWanted: () => pages < 3, onProgress: () => pages++ });
    expect(calls).toHaveLength(3);
    expect(result).toMatchObject({ matches: [], more: true, complete: false, loaded: 300 });
  });

  it('shares one read between searches racing for the same page', async () => {
    const { fetch, calls } = bitbucket();
    const directory = new MemberDirectory(fetch, 'acme');
    await Promise.all([directory.search('', 5), directory.search('a', 5)]);
    expect(calls).toEqual(['/2.0/workspaces/acme/members?pagelen=100']);
  });

  it('says what Bitbucket answered when it refuses', async () => {
    const { fetch } = bitbucket('standard', '557058:not-a-member');
    await expect(new MemberDirectory(fetch, 'acme').search('', 20)).rejects.toThrow('Bitbucket answered 403');
  });

  it('matches every word, anywhere in the name, ignoring case and accents', () => {
    expect(nameMatches('Tomás García', 'tomas gar')).toBe(true);
    expect(nameMatches('Tomás García', 'garcía  TOM')).toBe(true);
    expect(nameMatches('Tomás García', 'tomas lopez')).toBe(false);
    expect(nameMatches('Anyone', '   ')).toBe(true);
  });

  it('words what was searched', () => {
    expect(searchSummary('x', { matches: [], more: false, complete: true, loaded: 6, total: 6 }, false)).toBe('Nobody in the workspace matches “x”.');
    expect(searchSummary('ri', { matches: [{ accountId: 'a', name: 'Riley' }], more: false, complete: true, loaded: 6, total: 6 }, false)).toBe('1 person matching “ri”.');
    expect(searchSummary('', { matches: [], more: true, complete: false, loaded: 1200, total: 5006 }, true)).toBe('Searching… read 1,200 of 5,006 members.');
  });
});

describe('the name book', () => {
  it('looks up only the people shown, once each, and tells former members apart', async () => {
    const { bb, fetch, calls } = bitbucket();
    bb.addUser({ accountId: '557058:left-the-company', displayName: 'Gone Person', uuid: '{00000000-0000-4000-8000-000000000777}' });
    const book = new NameBook(fetch, 'acme');
    let updates = 0;
    book.subscribe(() => updates++);
    const far = generatedMember(4999);
    book.need([far.accountId, DEMO.people.riley.accountId, '557058:left-the-company', far.accountId]);
    book.need([far.accountId]);
    await book.settled();
    expect(book.label(far.accountId)).toBe(far.displayName);
    expect(book.label(DEMO.people.riley.accountId)).toBe('Riley Park');
    expect(book.get('557058:left-the-company')).toEqual({ kind: 'not-member' });
    expect(book.label('557058:left-the-company')).toBe('Former member (557058:left-…)');
    expect(calls.sort()).toEqual([`/2.0/workspaces/acme/members/${encodeURIComponent(far.accountId)}`, `/2.0/workspaces/acme/members/${encodeURIComponent('557058:left-the-company')}`, `/2.0/workspaces/acme/members/${encodeURIComponent(DEMO.people.riley.accountId)}`].sort());
    expect(updates).toBe(3);
  });

  it('takes names from member pages without looking them up', async () => {
    const { fetch, calls } = bitbucket();
    const book = new NameBook(fetch, 'acme');
    const directory = new MemberDirectory(fetch, 'acme', (page) => book.learn(page));
    await directory.search('', 5);
    book.need([DEMO.people.sam.accountId]);
    await book.settled();
    expect(book.label(DEMO.people.sam.accountId)).toBe('Sam Ortiz');
    expect(calls).toHaveLength(1);
  });

  it('asks again for a name whose lookup failed', async () => {
    let fail = true;
    const { fetch: real } = bitbucket('standard');
    const fetch: BitbucketFetch = (path) => (fail ? Promise.resolve({ ok: false, status: 503, json: async () => ({}) }) : real(path));
    const book = new NameBook(fetch, 'acme');
    book.need([DEMO.people.jordan.accountId]);
    await book.settled();
    expect(book.get(DEMO.people.jordan.accountId)).toMatchObject({ kind: 'failed', message: expect.stringContaining('503') });
    fail = false;
    book.need([DEMO.people.jordan.accountId]);
    await book.settled();
    expect(book.label(DEMO.people.jordan.accountId)).toBe('Jordan Lee');
  });
});

describe('the branch check', () => {
  it('asks Bitbucket for the narrowest set of branches a pattern can match', () => {
    expect(branchQueryFor('main')).toBe('name = "main"');
    expect(branchQueryFor('release/*')).toBe('name ~ "release/"');
    expect(branchQueryFor('*-stable*x')).toBe('name ~ "-stable" AND name ~ "x"');
    expect(branchQueryFor('*')).toBeUndefined();
    expect(branchQueryFor('we"ird\\')).toBe('name = "we\\"ird\\\\"');
  });

  it('says whether any branch matches, with the merge check’s own matcher', async () => {
    const { fetch, calls } = bitbucket('standard');
    const checker = new BranchChecker(fetch, DEMO.workspace.uuid, DEMO.repository.uuid);
    expect(await checker.coverage('main')).toEqual({ kind: 'matches', example: 'main' });
    expect(await checker.coverage('release/*')).toEqual({ kind: 'matches', example: 'release/1' });
    expect(await checker.coverage('*')).toMatchObject({ kind: 'matches' });
    expect(await checker.coverage('Main')).toEqual({ kind: 'none' });
    // "~" ignores case, the pattern does not: DOCS/* finds docs/release through Bitbucket but matches nothing.
    expect(await checker.coverage('DOCS/*')).toEqual({ kind: 'none' });
    expect(await checker.coverage('support/*')).toEqual({ kind: 'none' });
    const before = calls.length;
    await checker.coverage('main');
    expect(calls).toHaveLength(before);
    expect(coverageWarning('support/*', { kind: 'none' })).toContain('No branch in this repository matches “support/*”');
    expect(coverageWarning('main', { kind: 'matches', example: 'main' })).toBeUndefined();
  });

  it('pages through a repository with many candidate branches, and says when it cannot tell', async () => {
    const { bb, fetch } = bitbucket('standard');
    bb.repositories[0]!.branches = [...Array.from({ length: 1500 }, (_, i) => `feature/x-${String(i).padStart(4, '0')}`), 'feature/zz-target'];
    const checker = new BranchChecker(fetch, DEMO.workspace.uuid, DEMO.repository.uuid);
    expect(await checker.coverage('feature/*-0150')).toEqual({ kind: 'matches', example: 'feature/x-0150' });
    expect(await checker.coverage('feature/*target')).toEqual({ kind: 'matches', example: 'feature/zz-target' });
    expect(await checker.coverage('feature/*')).toEqual({ kind: 'matches', example: 'feature/refunds' });
    expect(await checker.coverage('feature/*nothing')).toEqual({ kind: 'none' });
    // 1,500 branches contain every literal part and none matches: past 10 pages it says it cannot tell.
    bb.repositories[0]!.branches!.push(...Array.from({ length: 1500 }, (_, i) => `feature/y-${i}-nothing-bx`));
    expect(await checker.coverage('feature/*bx*nothing')).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('More than 1000 branches') });
  });

  it('does not claim a pattern matches nothing when the branches could not be read', async () => {
    const { fetch } = bitbucket('standard', DEMO.people.author.accountId);
    const checker = new BranchChecker(fetch, DEMO.workspace.uuid, '{00000000-0000-4000-8000-00000000dead}');
    expect(await checker.coverage('main')).toMatchObject({ kind: 'unknown', reason: expect.stringContaining('404') });
  });
});
