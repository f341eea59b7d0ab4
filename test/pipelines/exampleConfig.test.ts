import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEPLOYMENT_GATE_AUDIENCE, gateCommand, gateDeployments } from '../../src/core';

const example = parse(readFileSync(join(__dirname, '..', '..', 'docs', 'pipelines', 'bitbucket-pipelines.example.yml'), 'utf8'));

type Step = { deployment?: string; oidc?: { audiences?: string[] }; script: string[] };
const deploymentsIn = (pipeline: { step: Step }[]) => pipeline.map((item) => item.step).filter((step) => step.deployment !== undefined);

describe('docs/pipelines/bitbucket-pipelines.example.yml', () => {
  it.each([
    ['branches', 'main', 'staging'],
    ['tags', 'v*', 'production'],
    ['tags', 'release-*', 'production'],
  ])('deploys %s %s to %s, after the build', (section, pattern, environment) => {
    const pipeline = example.pipelines[section][pattern];
    expect(pipeline[0].step.name).toBe('Build and test');
    expect(deploymentsIn(pipeline).map((s) => s.deployment)).toEqual([environment]);
  });

  it('runs the gate script first in every deployment step, with OIDC for the gate audience', () => {
    const sections = [example.pipelines.branches.main, example.pipelines.tags['v*'], example.pipelines.tags['release-*']];
    const steps = sections.flatMap(deploymentsIn);
    expect(steps).toHaveLength(3);
    for (const step of steps) {
      expect(step.oidc?.audiences).toEqual([DEPLOYMENT_GATE_AUDIENCE]);
      const gateAt = step.script.findIndex((command) => /countersign-gate\.sh/.test(command) && command.startsWith('sh '));
      const deployAt = step.script.findIndex((command) => command.startsWith('./deploy.sh'));
      expect(gateAt).toBeGreaterThanOrEqual(0);
      expect(step.script.slice(0, gateAt).every((command) => command.startsWith('curl '))).toBe(true);
      expect(deployAt).toBeGreaterThan(gateAt);
    }
  });

  it('is accepted as it is by the dynamic pipelines provider, which only adds its own gate in front', () => {
    const url = 'https://example.hello.atlassian-dev.net/x1/gate';
    const output = gateDeployments(example, [{ uuid: '{00000000-0000-4000-8000-000000000001}', name: 'production' }], { gateUrl: url, workspace: '{00000000-0000-4000-8000-0000000000aa}' }) as typeof example;
    const step = deploymentsIn(output.pipelines.tags['v*'])[0]!;
    expect(step.script).toEqual([gateCommand(url), ...deploymentsIn(example.pipelines.tags['v*'])[0]!.script]);
    expect(output.pipelines.branches.main).toEqual(example.pipelines.branches.main);
  });
});
