import { bitbucketDefaultAudience, DEPLOYMENT_GATE_AUDIENCE } from '../../src/core';
import { provideDynamicPipeline } from '../../src/handlers/dynamicPipelines';
import { REPOSITORY, WORKSPACE, World } from '../fixtures/world';
import { anEnvironment, PRODUCTION, saveEnvironments, seedEnvironments } from '../fixtures/deployments';

const CONTEXT = { installContext: `ari:cloud:bitbucket::workspace/${WORKSPACE.slice(1, -1)}` };
const GATE_URL = 'https://countersign-local.hello.atlassian-dev.net/x1/countersign-deployment-gate';
const deployingTo = (deployment: string) => ({ pipelines: { branches: { main: [{ step: { name: 'Deploy', deployment, script: ['./deploy.sh'] } }] } } });
const configuration = deployingTo('production');
const request = (overrides: object = {}) => ({ workspace: WORKSPACE, repository: REPOSITORY, trigger: 'push', pipelines_configuration: configuration, ...overrides });
const stepOf = (answer: any) => answer.pipelines_configuration.pipelines.branches.main[0].step;

describe('dynamic pipelines provider', () => {
  let world: World;
  beforeEach(async () => {
    world = new World();
    seedEnvironments(world);
    await saveEnvironments(world, [anEnvironment()]);
  });
  afterEach(() => world.dispose());

  it("gates the repository's gated environments with the gate's URL, keeping Bitbucket's default audience beside Countersign's", async () => {
    const answer: any = await provideDynamicPipeline(world.deps, request(), CONTEXT);
    const step = stepOf(answer);
    expect(step.oidc).toEqual({ audiences: [`ari:cloud:bitbucket::workspace/${WORKSPACE.slice(1, -1)}`, DEPLOYMENT_GATE_AUDIENCE] });
    expect(bitbucketDefaultAudience(WORKSPACE)).toBe(step.oidc.audiences[0]);
    expect(step.script[0]).toMatch(/^: countersign-deployment-gate;/);
    expect(step.script[0]).toContain(`'${GATE_URL}'`);
  });

  it("matches an environment by its current Bitbucket name after a rename, not the name saved in the policy", async () => {
    world.repo.environments!.find((e) => e.uuid === PRODUCTION)!.name = 'Live';
    const answer: any = await provideDynamicPipeline(world.deps, request({ pipelines_configuration: deployingTo('live') }), CONTEXT);
    expect(stepOf(answer).script[0]).toMatch(/^: countersign-deployment-gate;/);
  });

  it('fails the pipeline, with a reason, when Bitbucket cannot list the environments', async () => {
    world.host.bitbucket.faults.push(...Array.from({ length: 200 }, () => ({ status: 503 })));
    const answer: any = await provideDynamicPipeline(world.deps, request(), CONTEXT);
    expect(answer).toEqual({ error: { key: 'countersign.bitbucket-error', message: expect.stringMatching(/^Countersign: .*deployment environments.*run the pipeline again/) } });
  });

  it('returns the configuration as it came when nothing is gated, without asking Bitbucket', async () => {
    await saveEnvironments(world, []);
    world.host.bitbucket.faults.push(...Array.from({ length: 200 }, () => ({ status: 503 })));
    expect(await provideDynamicPipeline(world.deps, request(), CONTEXT)).toEqual({ pipelines_configuration: configuration });
  });

  it('fails the pipeline with the reason when the configuration bypasses the gate', async () => {
    const bypass = { pipelines: { default: [{ step: { deployment: 'production', oidc: false, script: ['./deploy.sh'] } }] } };
    const answer: any = await provideDynamicPipeline(world.deps, request({ pipelines_configuration: bypass }), CONTEXT);
    expect(answer.error.key).toBe('countersign.gate-oidc-off');
    expect(answer.error.message).toMatch(/^Countersign: .*oidc: false/);
  });

  it('refuses a payload naming another workspace than the installation', async () => {
    const answer: any = await provideDynamicPipeline(world.deps, request({ workspace: '{22222222-2222-4222-8222-222222222222}' }), CONTEXT);
    expect(answer.error.key).toBe('countersign.forbidden');
  });

  it('fails closed without an installation it recognises (its own problem) or with a payload it cannot read', async () => {
    expect(((await provideDynamicPipeline(world.deps, request(), {})) as any).error.key).toBe('countersign.internal');
    expect(((await provideDynamicPipeline(world.deps, request(), { installContext: 'ari:cloud:jira::site/1' })) as any).error.key).toBe('countersign.internal');
    expect(((await provideDynamicPipeline(world.deps, { workspace: WORKSPACE }, CONTEXT)) as any).error.key).toBe('countersign.invalid-input');
  });

  it('fails closed when storage cannot say which environments are gated', async () => {
    const forward = (globalThis as any).__forge_fetch__;
    (globalThis as any).__forge_fetch__ = (descriptor: any, path: string, init: RequestInit) =>
      descriptor?.type === 'kvs' ? Promise.resolve(new Response(JSON.stringify({ code: 'INTERNAL_SERVER_ERROR', message: 'down' }), { status: 500 })) : forward(descriptor, path, init);
    try {
      expect(((await provideDynamicPipeline(world.deps, request(), CONTEXT)) as any).error.key).toBe('countersign.storage-error');
    } finally {
      (globalThis as any).__forge_fetch__ = forward;
    }
  });
});
