/**
 * Drives the real entry points in src/index.ts (the production wiring, `@forge/resolver`, `@forge/kvs`
 * and `@forge/api`) through the one runtime global they use, `__forge_fetch__`, and checks what
 * crosses the wire: endpoints, descriptors, KVS keys and bodies. A wiring mistake shows up here even
 * where the fakes would have forgiven it.
 */
import { handler, mergeCheck } from '../../src/index';
import { aRule, commitHash, PEOPLE, REPOSITORY, WORKSPACE, World } from '../fixtures/world';
import { anEnvironment, GATE_AUDIENCE, PRODUCTION, saveEnvironments, seedEnvironments } from '../fixtures/deployments';

interface WireCall {
  descriptor: { type: string; provider?: string; remote?: string; accountId?: string };
  path: string;
  method: string;
  body: any;
}

describe('production wiring over __forge_fetch__', () => {
  let world: World;
  let wire: WireCall[];

  beforeEach(async () => {
    world = new World();
    await world.savePolicy([aRule()]);
    await world.enrolledSigner(PEOPLE.alice);
    const forward = (globalThis as any).__forge_fetch__;
    wire = [];
    (globalThis as any).__forge_fetch__ = (descriptor: any, path: string, init: RequestInit = {}) => {
      wire.push({ descriptor, path, method: init.method ?? 'GET', body: init.body ? JSON.parse(String(init.body)) : undefined });
      return forward(descriptor, path, init);
    };
  });
  afterEach(() => world.dispose());

  const installContext = `ari:cloud:bitbucket::workspace/${WORKSPACE.slice(1, -1)}`;
  const context = { workspaceId: WORKSPACE, extension: { repository: { uuid: REPOSITORY }, pullRequest: { id: 1 } } };

  it('answers a resolver call as the platform principal, whatever accountId the client context claims', async () => {
    const result = await world.host.actAs(PEOPLE.alice, () =>
      handler({ call: { functionKey: 'getPanelState', payload: {} }, context: { ...context, accountId: PEOPLE.bob } } as any, { principal: { accountId: PEOPLE.alice }, installContext } as any),
    );
    expect(result).toMatchObject({ ok: true, data: { me: { accountId: PEOPLE.alice, eligibility: 'eligible' } } });
  });

  it('reads the pull request as the app and storage in one batch on the merge check', async () => {
    const result = await mergeCheck({ workspace: { uuid: WORKSPACE }, repository: { uuid: REPOSITORY }, pullrequest: { id: 1 }, trigger: { type: 'on-merge' } });
    expect(result.success).toBe(false);

    const kvs = wire.filter((c) => c.descriptor.type === 'kvs');
    expect(kvs).toEqual([
      {
        descriptor: { type: 'kvs', provider: 'app', remote: 'kvs' },
        path: '/api/v1/batch/get',
        method: 'POST',
        body: [
          { key: 'policy:22222222-2222-4222-8222-222222222222', entityName: 'versioned-document' },
          { key: 'policyversion:22222222-2222-4222-8222-222222222222:1', entityName: 'versioned-document' },
          ...Array.from({ length: 20 }, (_, b) => ({ key: `approvals:22222222-2222-4222-8222-222222222222:1:${b}`, entityName: 'versioned-document' })),
          ...[0, 1, 2].map((s) => ({ key: `revoked:${s}`, entityName: 'versioned-document' })),
        ],
      },
    ]);
    const bitbucket = wire.filter((c) => c.descriptor.remote === 'bitbucket');
    expect(bitbucket.map((c) => [c.descriptor.type, c.descriptor.provider, c.method, c.path])).toEqual([
      ['fpp', 'app', 'GET', '/2.0/repositories/{11111111-1111-4111-8111-111111111111}/{22222222-2222-4222-8222-222222222222}/pullrequests/1'],
      ['fpp', 'app', 'GET', '/2.0/repositories/{11111111-1111-4111-8111-111111111111}/{22222222-2222-4222-8222-222222222222}/pullrequests/1/commits?pagelen=100'],
    ]);
  });

  it('asks Bitbucket about permissions as the calling user', async () => {
    await world.host.actAs(PEOPLE.admin, () =>
      handler({ call: { functionKey: 'getSettings', payload: {} }, context } as any, { principal: { accountId: PEOPLE.admin }, installContext } as any),
    );
    const permission = wire.find((c) => c.path.startsWith(`/2.0/user/workspaces/${WORKSPACE}/permissions/repositories`));
    expect(permission?.descriptor).toMatchObject({ type: 'fpp', provider: 'user', remote: 'bitbucket' });
    expect(decodeURIComponent(permission!.path)).toContain(`q=repository.uuid="${REPOSITORY}"`);
    const environments = wire.find((c) => c.path.startsWith(`/2.0/repositories/${WORKSPACE}/${REPOSITORY}/environments`));
    expect(environments?.descriptor).toMatchObject({ type: 'fpp', provider: 'user', remote: 'bitbucket' });
  });

  it('consumes the challenge and stores the approval in one conditional transaction, with keys only within the KVS charset', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    wire.length = 0;
    expect(await world.sign(alice)).toMatchObject({ ok: true });
    const transactions = wire.filter((c) => c.path === '/api/v1/transaction');
    expect(transactions).toHaveLength(1);
    const [bucket, challenge] = transactions[0]!.body.set;
    expect(bucket).toMatchObject({ key: expect.stringMatching(/^approvals:22222222-2222-4222-8222-222222222222:1:\d+$/), entityName: 'versioned-document', conditions: { and: [{ property: 'version', condition: 'NOT_EXISTS' }] } });
    expect(challenge.entityName).toBe('challenge');
    const consume = [{ body: { set: [challenge] } }];
    expect(consume[0]!.body.set[0].conditions.and.map((c: { property: string; condition: string }) => `${c.property} ${c.condition}`)).toEqual([
      'accountId EQUAL_TO',
      'workspace EQUAL_TO',
      'repository EQUAL_TO',
      'consumed EQUAL_TO',
      'expiresAt GREATER_THAN',
      'pullRequest EQUAL_TO',
      // A deployment's challenge cannot be spent on a pull request.
      'deployment NOT_EXISTS',
    ]);
    expect(consume[0]!.body.set[0].value).toMatchObject({ accountId: PEOPLE.alice, consumed: true });
    const keys = wire.filter((c) => c.descriptor.type === 'kvs').flatMap((c) => (Array.isArray(c.body) ? c.body.map((i: any) => i.key) : [c.body?.key])).filter(Boolean);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key).toMatch(/^[a-zA-Z0-9:._\s\-#]+$/);
  });

  it('runs the deployment gate on the web trigger: the OIDC documents, the pipeline, the commit and the environment read as the app, storage in one batch', async () => {
    const release = commitHash('release');
    seedEnvironments(world);
    world.host.bitbucket.seedCommit(world.repo, { hash: release, author: PEOPLE.author, message: 'Release' });
    world.host.bitbucket.addTag(world.repo, 'v1.0.0', release);
    const pipeline = world.host.bitbucket.seedPipeline(world.repo, { commit: release, ref: { type: 'tag', name: 'v1.0.0' }, creator: PEOPLE.dave });
    await saveEnvironments(world, [anEnvironment()]);
    // src/index.ts reads the real clock.
    const token = await world.host.bitbucket.mintStepToken(world.repo, { pipeline: pipeline.uuid, environment: PRODUCTION, audience: GATE_AUDIENCE, now: new Date() });
    // A fresh container: the module's store keeps the app secrets it read from an earlier test's storage.
    let deploymentGate!: typeof import('../../src/index').deploymentGate;
    jest.isolateModules(() => {
      ({ deploymentGate } = require('../../src/index'));
    });
    wire.length = 0;
    const response = await deploymentGate(
      { method: 'POST', headers: { authorization: [`Bearer ${token}`], 'content-type': ['application/json'] }, body: JSON.stringify({ commit: release }), path: '/', queryParameters: {} },
      { installContext },
    );
    expect(response).toMatchObject({ statusCode: 403, headers: { 'Content-Type': ['application/json'] } });
    expect(JSON.parse(response.body)).toMatchObject({ allowed: false, code: 'APPROVALS_MISSING', request: { state: 'pending' } });

    const bitbucket = wire.filter((c) => c.descriptor.remote === 'bitbucket');
    const repo = `/2.0/repositories/${WORKSPACE}/${REPOSITORY}`;
    expect(bitbucket.map((c) => [c.descriptor.type, c.descriptor.provider, c.method, c.path])).toEqual([
      ['fpp', 'app', 'GET', `/2.0/workspaces/${WORKSPACE}/pipelines-config/identity/oidc/.well-known/openid-configuration`],
      ['fpp', 'app', 'GET', `/2.0/workspaces/${WORKSPACE}/pipelines-config/identity/oidc/keys.json`],
      ['fpp', 'app', 'GET', `${repo}/pipelines/${pipeline.uuid}`],
      ['fpp', 'app', 'GET', `${repo}/commit/${release}`],
      ['fpp', 'app', 'GET', `${repo}/environments/${PRODUCTION}`],
      // The tag the pipeline says it runs for, once the pipeline has named it: it must point at the commit.
      ['fpp', 'app', 'GET', `${repo}/refs/tags/v1.0.0`],
    ]);
    const kvs = wire.filter((c) => c.descriptor.type === 'kvs');
    expect(kvs.filter((c) => c.path === '/api/v1/batch/get').length).toBeGreaterThanOrEqual(1);
    // The request opened in one transaction with its ledger entry.
    expect(kvs.filter((c) => c.path === '/api/v1/transaction')).toHaveLength(1);
  });
});
