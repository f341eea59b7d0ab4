import { BitbucketHttpError, FakeBitbucket } from '../../dev/fakeBitbucket';
import { DEMO, generatedMember, LARGE_DEMO_MEMBERS, seedDemo } from '../../host/demo';

/** The fake answers the settings page's reads as Bitbucket's API description says Bitbucket does. */
describe('fake Bitbucket: members and branches', () => {
  const bb = new FakeBitbucket();
  seedDemo(bb, 'large');
  const admin = DEMO.people.admin.accountId;
  const get = (path: string, caller: string | undefined = admin) => bb.handle('GET', path, undefined, caller).json as any;
  const refusal = (path: string, caller: string | undefined = admin) => {
    try {
      bb.handle('GET', path, undefined, caller);
    } catch (error) {
      return error as BitbucketHttpError;
    }
    throw new Error(`${path} was answered`);
  };

  it('seeds 5,000 generated members with distinct, realistic names besides the demo people', () => {
    const names = new Set(Array.from({ length: LARGE_DEMO_MEMBERS }, (_, n) => generatedMember(n).displayName));
    expect(names.size).toBe(LARGE_DEMO_MEMBERS);
    expect(generatedMember(0).displayName).toMatch(/^[A-Z][a-z]+ [A-Z]/);
    expect(get('/2.0/workspaces/acme/members').size).toBe(LARGE_DEMO_MEMBERS + Object.keys(DEMO.people).length);
  });

  it('pages members 10 at a time unless pagelen says otherwise (at most 100), following next to the end', () => {
    const first = get('/2.0/workspaces/acme/members');
    expect(first).toMatchObject({ pagelen: 10, page: 1, values: expect.any(Array) });
    expect(first.values).toHaveLength(10);
    expect(first.previous).toBeUndefined();
    expect(first.values[0]).toMatchObject({ type: 'workspace_membership', user: { type: 'user', account_id: DEMO.people.author.accountId, display_name: 'Avery Chen' }, workspace: { slug: 'acme' } });
    let path: string | undefined = '/2.0/workspaces/acme/members?pagelen=100';
    const seen = new Set<string>();
    let pages = 0;
    while (path) {
      const page = get(path);
      for (const m of page.values) seen.add(m.user.account_id);
      path = page.next;
      pages++;
      if (page.page > 1) expect(page.previous).toContain(`page=${page.page - 1}`);
    }
    expect(pages).toBe(51);
    expect(seen.size).toBe(5006);
    expect(refusal('/2.0/workspaces/acme/members?pagelen=101').status).toBe(400);
    expect(refusal('/2.0/workspaces/acme/members?page=0').status).toBe(400);
  });

  it('filters members by nothing but email, which it keeps none of: a name query is refused, not ignored', () => {
    const error = refusal(`/2.0/workspaces/acme/members?q=${encodeURIComponent('user.display_name ~ "Riley"')}`);
    expect(error.status).toBe(400);
    expect(error.message).toContain('user.email');
  });

  it('answers one membership by account id or uuid, and 404 for anyone not a member', () => {
    expect(get(`/2.0/workspaces/acme/members/${DEMO.people.riley.accountId}`)).toMatchObject({ type: 'workspace_membership', user: { display_name: 'Riley Park' } });
    const uuid = bb.users.get(DEMO.people.sam.accountId)!.uuid;
    expect(get(`/2.0/workspaces/acme/members/${encodeURIComponent(uuid)}`).user.display_name).toBe('Sam Ortiz');
    bb.addUser({ accountId: '557058:gone', displayName: 'Left Company', uuid: '{00000000-0000-4000-8000-000000000999}' });
    expect(refusal('/2.0/workspaces/acme/members/557058:gone').status).toBe(404);
    expect(refusal(`/2.0/workspaces/acme/members/${DEMO.people.riley.accountId}`, '557058:gone').status).toBe(403);
  });

  it('lists branches in git order, paged, filtered by name = and name ~ as Bitbucket documents', () => {
    const repo = '/2.0/repositories/acme/payments/refs/branches';
    const all = get(`${repo}?pagelen=100`);
    // The seeded branches, and those of every open pull request (#3's hotfix into release/1).
    expect(all.values.map((b: any) => b.name)).toEqual(['develop', 'docs', 'docs/release', 'feature/refunds', 'hotfix/refund-rounding', 'main', 'release/1', 'release/2026.11']);
    expect(all.values[0]).toMatchObject({ type: 'branch', target: { type: 'commit', hash: expect.stringMatching(/^[0-9a-f]{40}$/) } });
    const paged = get(`${repo}?pagelen=4`);
    expect(paged.values).toHaveLength(4);
    expect(get(paged.next).values.map((b: any) => b.name)).toEqual(['hotfix/refund-rounding', 'main', 'release/1', 'release/2026.11']);
    expect(get(`${repo}?q=${encodeURIComponent('name = "main"')}`).values.map((b: any) => b.name)).toEqual(['main']);
    expect(get(`${repo}?q=${encodeURIComponent('name ~ "DOCS"')}`).values.map((b: any) => b.name)).toEqual(['docs', 'docs/release']);
    expect(get(`${repo}?q=${encodeURIComponent('name ~ "docs" AND name ~ "release"')}`).values.map((b: any) => b.name)).toEqual(['docs/release']);
    expect(refusal(`${repo}?q=${encodeURIComponent('name LIKE main')}`).status).toBe(400);
    expect(refusal(`${repo}?q=${encodeURIComponent('name ~ "docs" AND')}`).status).toBe(400);
    expect(refusal(repo, '557058:gone').status).toBe(403);
  });
});

describe('fake Bitbucket: deployment environments', () => {
  const bb = new FakeBitbucket();
  seedDemo(bb);
  const admin = DEMO.people.admin.accountId;
  const path = '/2.0/repositories/acme/payments/environments';
  const get = (p: string, caller: string | undefined = admin) => bb.handle('GET', p, undefined, caller).json as any;
  const status = (p: string, caller: string | undefined) => {
    try {
      bb.handle('GET', p, undefined, caller);
    } catch (error) {
      return (error as BitbucketHttpError).status;
    }
    return 200;
  };

  it("lists the demo's environments as paginated_environments of deployment_environment, by type", () => {
    const page = get(path);
    expect(page).toMatchObject({ pagelen: 10, page: 1, size: 2 });
    expect(page.next).toBeUndefined();
    expect(page.values).toEqual([
      expect.objectContaining({ type: 'deployment_environment', uuid: DEMO.environments.staging.uuid, name: 'Staging', environment_type: expect.objectContaining({ name: 'Staging' }) }),
      expect.objectContaining({ type: 'deployment_environment', uuid: DEMO.environments.production.uuid, name: 'Production', environment_type: expect.objectContaining({ name: 'Production' }) }),
    ]);
  });

  it('pages them by pagelen (at most 100) with next and previous links, in Bitbucket order', () => {
    const local = new FakeBitbucket();
    seedDemo(local);
    const repo2 = local.repositories[0]!;
    for (let n = 1; n <= 5; n++) local.addEnvironment(repo2, { uuid: `{00000000-0000-4000-8000-00000000000${n}}`, name: `Test ${n}`, type: 'Test' });
    const first = local.handle('GET', `${path}?pagelen=3`, undefined, admin).json as any;
    // Tests before Staging before Production, whatever order they were added in.
    expect(first.values.map((e: any) => e.name)).toEqual(['Test 1', 'Test 2', 'Test 3']);
    expect(first.previous).toBeUndefined();
    const names: string[] = [];
    let next: string | undefined = `${path}?pagelen=3`;
    while (next) {
      const page = local.handle('GET', next, undefined, admin).json as any;
      names.push(...page.values.map((e: any) => e.name));
      if (page.page > 1) expect(page.previous).toContain(`page=${page.page - 1}`);
      next = page.next;
    }
    expect(names).toEqual(['Test 1', 'Test 2', 'Test 3', 'Test 4', 'Test 5', 'Staging', 'Production']);
    expect(status(`${path}?pagelen=101`, admin)).toBe(400);
  });

  it('answers anyone with access to the repository (and the app), and refuses everyone else', () => {
    expect(get(path, DEMO.people.reader.accountId).size).toBe(2);
    expect(get(path, undefined).size).toBe(2);
    bb.addUser({ accountId: '557058:stranger', displayName: 'Stranger', uuid: '{00000000-0000-4000-8000-000000000777}' });
    expect(status(path, '557058:stranger')).toBe(403);
  });

  it('keeps environments through the state file, and lists none for a repository without any', () => {
    const copy = new FakeBitbucket();
    copy.importState(JSON.parse(JSON.stringify(bb.exportState())));
    expect((copy.handle('GET', path, undefined, admin).json as any).values.map((e: any) => e.name)).toEqual(['Staging', 'Production']);
    copy.repositories[0]!.environments = undefined;
    expect(copy.handle('GET', path, undefined, admin).json).toMatchObject({ size: 0, values: [] });
  });
});
