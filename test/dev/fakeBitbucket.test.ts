import { createLocalJWKSet, jwtVerify } from 'jose';
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

/** Pipelines, environments, closed_by and the Pipelines OIDC issuer, in the shapes of Bitbucket's API description. */
describe('fake Bitbucket: pipelines and their OIDC issuer', () => {
  const WS = '{11111111-1111-4111-8111-111111111111}';
  const bb = new FakeBitbucket();
  bb.addUser({ accountId: '557058:dave', displayName: 'Dave', uuid: '{00000000-0000-4000-8000-00000000000d}' });
  const repo = bb.addRepository({ uuid: '{22222222-2222-4222-8222-222222222222}', slug: 'payments', workspace: { uuid: WS, slug: 'acme' }, permissions: {} });
  const commit = 'c'.repeat(40);
  const tagged = bb.seedPipeline(repo, { commit, ref: { type: 'tag', name: 'v1.0.0' }, creator: '557058:dave', buildNumber: 7 });
  const bare = bb.seedPipeline(repo, { commit });
  bb.addEnvironment(repo, { uuid: '{55555555-5555-4555-8555-555555555555}', name: 'Production', type: 'Production' });
  bb.seedCommit(repo, { hash: commit, author: '557058:dave', message: 'Release' });
  const get = (path: string) => bb.handle('GET', path, undefined, undefined).json as any;

  it('answers a pipeline by UUID: a tag or branch as a pipeline_ref_target, a bare commit as a pipeline_commit_target', () => {
    expect(get(`/2.0/repositories/${encodeURIComponent(WS)}/payments/pipelines/${encodeURIComponent(tagged.uuid)}`)).toMatchObject({
      type: 'pipeline',
      uuid: tagged.uuid,
      build_number: 7,
      creator: { type: 'user', account_id: '557058:dave' },
      target: { type: 'pipeline_ref_target', ref_type: 'tag', ref_name: 'v1.0.0', commit: { type: 'commit', hash: commit }, selector: { type: 'tags' } },
    });
    const plain = get(`/2.0/repositories/acme/payments/pipelines/${bare.uuid}`);
    expect(plain.target).toMatchObject({ type: 'pipeline_commit_target', commit: { hash: commit } });
    expect(plain.target).not.toHaveProperty('ref_name');
    expect(plain).not.toHaveProperty('creator');
    expect(() => bb.handle('GET', '/2.0/repositories/acme/payments/pipelines/{00000000-0000-4000-8000-000000000000}', undefined, undefined)).toThrow(BitbucketHttpError);
  });

  it('answers an environment by UUID (deployment_environment) and 404 for one the repository lacks', () => {
    expect(get('/2.0/repositories/acme/payments/environments/{55555555-5555-4555-8555-555555555555}')).toMatchObject({ type: 'deployment_environment', uuid: '{55555555-5555-4555-8555-555555555555}', name: 'Production' });
    expect(() => get('/2.0/repositories/acme/payments/environments/{44444444-4444-4444-8444-444444444444}')).toThrow(BitbucketHttpError);
  });

  it("answers a seeded commit with its author's account", () => {
    expect(get(`/2.0/repositories/acme/payments/commit/${commit}`)).toMatchObject({ type: 'commit', hash: commit, author: { user: { account_id: '557058:dave' } } });
  });

  it('names who closed a merged pull request (closed_by), and nobody for an open one', () => {
    const pr = bb.addPullRequest(repo, { id: 9, title: 'x', author: '557058:dave', sourceBranch: 'f', targetBranch: 'main', state: 'OPEN', reviewers: [], commits: [{ hash: commit, author: '557058:dave', message: 'x' }], closedBy: '557058:dave' });
    expect(get('/2.0/repositories/acme/payments/pullrequests/9').closed_by).toBeNull();
    pr.state = 'MERGED';
    expect(get('/2.0/repositories/acme/payments/pullrequests/9').closed_by).toMatchObject({ account_id: '557058:dave' });
  });

  it('publishes the workspace issuer (named by slug) and its keys at the real paths, by UUID or slug, and mints step tokens they verify', async () => {
    const issuer = 'https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc';
    const configuration = get(`/2.0/workspaces/${encodeURIComponent(WS)}/pipelines-config/identity/oidc/.well-known/openid-configuration`);
    expect(configuration).toMatchObject({ issuer, jwks_uri: `${issuer}/keys.json` });
    const keys = get('/2.0/workspaces/acme/pipelines-config/identity/oidc/keys.json');
    expect(keys.keys).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', kid: expect.any(String), use: 'sig' })]);
    expect(keys.keys[0]).not.toHaveProperty('d');

    const now = new Date('2026-11-22T10:00:00Z');
    const token = await bb.mintStepToken(repo, { pipeline: tagged.uuid, step: '{66666666-6666-4666-8666-666666666666}', environment: '{55555555-5555-4555-8555-555555555555}', audience: 'countersign-deployment-gate', now });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(keys), { issuer, audience: 'countersign-deployment-gate', currentDate: now });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: keys.keys[0].kid });
    expect(payload).toEqual({
      iss: issuer,
      aud: 'countersign-deployment-gate',
      sub: '{22222222-2222-4222-8222-222222222222}:{55555555-5555-4555-8555-555555555555}:{66666666-6666-4666-8666-666666666666}',
      iat: now.getTime() / 1000,
      exp: now.getTime() / 1000 + 3600,
      accountUuid: WS,
      workspaceUuid: WS,
      repositoryUuid: repo.uuid,
      pipelineUuid: tagged.uuid,
      stepUuid: '{66666666-6666-4666-8666-666666666666}',
      deploymentEnvironmentUuid: '{55555555-5555-4555-8555-555555555555}',
    });
  });

  it('keeps the old key beside the new one after a rotation, signs with the new one, and keeps both through exportState', async () => {
    const [old] = get('/2.0/workspaces/acme/pipelines-config/identity/oidc/keys.json').keys;
    const fresh = bb.rotateOidcKey('acme');
    expect(get('/2.0/workspaces/acme/pipelines-config/identity/oidc/keys.json').keys.map((k: any) => k.kid)).toEqual([fresh.kid, old.kid]);
    const copy = new FakeBitbucket();
    copy.importState(JSON.parse(JSON.stringify(bb.exportState())));
    expect(copy.handle('GET', '/2.0/workspaces/acme/pipelines-config/identity/oidc/keys.json', undefined, undefined).json).toEqual(get('/2.0/workspaces/acme/pipelines-config/identity/oidc/keys.json'));
  });
});
