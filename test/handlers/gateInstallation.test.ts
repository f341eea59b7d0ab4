import { gateDeployment } from '../../src/handlers/deploymentGate';
import { World } from '../fixtures/world';
import { callGate, PRODUCTION, seedEnvironments, stepToken } from '../fixtures/deployments';

/** The gate's installation: Forge's invocation context, not the caller, says which workspace it serves. */
describe('deployment gate without an installation it recognises', () => {
  let world: World;
  beforeEach(() => {
    world = new World();
    seedEnvironments(world);
  });
  afterEach(() => world.dispose());

  it.each([[{}], [{ installContext: 'ari:cloud:jira::site/1' }], [undefined]])('answers 503 (Countersign\'s problem, not a bad token) for the context %j', async (context) => {
    const pipeline = world.host.bitbucket.seedPipeline(world.repo, { commit: 'a'.repeat(40), ref: { type: 'tag', name: 'v1.2.0' } });
    const token = await stepToken(world, pipeline, PRODUCTION);
    const before = world.host.kvs.snapshot();
    const response = await gateDeployment(world.deps, { method: 'POST', headers: { Authorization: [`Bearer ${token}`] }, body: JSON.stringify({ commit: 'a'.repeat(40) }) }, context);
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toMatchObject({ allowed: false, code: 'INTERNAL', message: expect.stringContaining('reinstall') });
    expect(world.host.kvs.snapshot()).toBe(before);
  });

  it('still answers 401 for a missing token when the installation is known', async () => {
    expect(await callGate(world, { body: { commit: 'a'.repeat(40) } })).toMatchObject({ status: 401, body: { code: 'NOT_AUTHENTICATED' } });
  });
});
