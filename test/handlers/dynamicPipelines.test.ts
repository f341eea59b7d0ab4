import { DEPLOYMENT_GATE_AUDIENCE, RequestError } from '../../src/core';
import { provideDynamicPipeline, type DynamicPipelinesDeps } from '../../src/handlers/dynamicPipelines';

const WORKSPACE = '{308ce669-576d-4fa7-b4d4-15e8171f0c8c}';
const REPOSITORY = '{2fc883c6-3dee-4e73-a354-ccee4bd77938}';
const CONTEXT = { installContext: `ari:cloud:bitbucket::workspace/${WORKSPACE.slice(1, -1)}` };
const configuration = { pipelines: { branches: { main: [{ step: { name: 'Deploy', deployment: 'production', script: ['./deploy.sh'] } }] } } };
const request = (overrides: object = {}) => ({ workspace: WORKSPACE, repository: REPOSITORY, trigger: 'push', pipelines_configuration: configuration, ...overrides });

function deps(environments: () => Promise<{ uuid: string; name: string }[]>): DynamicPipelinesDeps & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    environments: { environmentsWithPolicy: (workspace, repository) => (asked.push([workspace, repository]), environments()) },
    gateUrl: async () => 'https://x.hello.atlassian-dev.net/x1/gate',
  };
}
const production = async () => [{ uuid: '{5b2c7c1e-1f0a-4a55-9d3e-6a7b8c9d0e1f}', name: 'production' }];

describe('dynamic pipelines provider', () => {
  it("gates the repository's gated environments, asking for the installation's workspace", async () => {
    const d = deps(production);
    const answer: any = await provideDynamicPipeline(d, request(), CONTEXT);
    const step = answer.pipelines_configuration.pipelines.branches.main[0].step;
    expect(step.oidc).toEqual({ audiences: [DEPLOYMENT_GATE_AUDIENCE] });
    expect(step.script[0]).toMatch(/^: countersign-deployment-gate;/);
    expect(d.asked).toEqual([[WORKSPACE, REPOSITORY]]);
  });

  it('returns the configuration as it came when nothing is gated', async () => {
    expect(await provideDynamicPipeline(deps(async () => []), request(), CONTEXT)).toEqual({ pipelines_configuration: configuration });
  });

  it('fails the pipeline with the reason when the configuration bypasses the gate', async () => {
    const bypass = { pipelines: { default: [{ step: { deployment: 'production', oidc: false, script: ['./deploy.sh'] } }] } };
    const answer: any = await provideDynamicPipeline(deps(production), request({ pipelines_configuration: bypass }), CONTEXT);
    expect(answer.error.key).toBe('countersign.gate-oidc-off');
    expect(answer.error.message).toMatch(/^Countersign: .*oidc: false/);
  });

  it('refuses a payload naming another workspace than the installation, without reading storage', async () => {
    const d = deps(production);
    const answer: any = await provideDynamicPipeline(d, request({ workspace: '{11111111-1111-4111-8111-111111111111}' }), CONTEXT);
    expect(answer.error.key).toBe('countersign.forbidden');
    expect(d.asked).toEqual([]);
  });

  it('fails closed without an installation context or with a payload it cannot read', async () => {
    expect(((await provideDynamicPipeline(deps(production), request(), {})) as any).error.key).toBe('countersign.not-authenticated');
    expect(((await provideDynamicPipeline(deps(production), { workspace: WORKSPACE }, CONTEXT)) as any).error.key).toBe('countersign.invalid-input');
  });

  it('fails closed when storage cannot say which environments are gated', async () => {
    const answer: any = await provideDynamicPipeline(deps(async () => { throw new RequestError('STORAGE_ERROR', 'Storage is not answering; run the pipeline again.'); }), request(), CONTEXT);
    expect(answer).toEqual({ error: { key: 'countersign.storage-error', message: 'Countersign: Storage is not answering; run the pipeline again.' } });
  });
});
