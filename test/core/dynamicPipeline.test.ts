import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { parse } from 'yaml';
import { bitbucketDefaultAudience, DEPLOYMENT_GATE_AUDIENCE, gateCommand, gateDeployments, GATE_COMMAND_MARK, PipelineRefusal, type GatedEnvironment } from '../../src/core';

const URL = 'https://0a1b2c3d.hello.atlassian-dev.net/x1/gate-token';
const PRODUCTION: GatedEnvironment = { uuid: '{5b2c7c1e-1f0a-4a55-9d3e-6a7b8c9d0e1f}', name: 'Production' };
const GATED = [PRODUCTION];
const GATE = gateCommand(URL);
const WORKSPACE = '{308ce669-576d-4fa7-b4d4-15e8171f0c8c}';
/** Bitbucket's audience for a step of this workspace that names none. */
const DEFAULT_AUDIENCE = 'ari:cloud:bitbucket::workspace/308ce669-576d-4fa7-b4d4-15e8171f0c8c';
const OIDC = { audiences: [DEFAULT_AUDIENCE, DEPLOYMENT_GATE_AUDIENCE] };

type Step = { name?: string; deployment?: string; script?: unknown[]; oidc?: unknown; [key: string]: unknown };
const deploy = (overrides: Partial<Step> = {}): Step => ({ name: 'Deploy', deployment: 'production', script: ['./deploy.sh'], ...overrides });
const build: Step = { name: 'Build', script: ['npm ci', 'npm test'] };
const gated = (overrides: Partial<Step> = {}): Step => ({ ...deploy(overrides), oidc: OIDC, script: [GATE, ...(overrides.script ?? ['./deploy.sh'])] });

function rewrite(configuration: unknown, environments = GATED): any {
  return gateDeployments(configuration, environments, { gateUrl: URL, workspace: WORKSPACE });
}

function refusal(configuration: unknown): PipelineRefusal {
  try {
    rewrite(configuration);
  } catch (error) {
    if (error instanceof PipelineRefusal) return error;
    throw error;
  }
  throw new Error('the configuration was not refused');
}

describe('gateDeployments', () => {
  describe('puts the gate first in a deployment step to a gated environment', () => {
    it.each([
      ['pipelines.default', (s: Step) => ({ pipelines: { default: [{ step: build }, { step: s }] } }), (c: any) => c.pipelines.default[1].step],
      ['pipelines.branches', (s: Step) => ({ pipelines: { branches: { main: [{ step: s }] } } }), (c: any) => c.pipelines.branches.main[0].step],
      ['pipelines.tags', (s: Step) => ({ pipelines: { tags: { 'v*': [{ step: s }] } } }), (c: any) => c.pipelines.tags['v*'][0].step],
      ['pipelines.pull-requests', (s: Step) => ({ pipelines: { 'pull-requests': { '**': [{ step: s }] } } }), (c: any) => c.pipelines['pull-requests']['**'][0].step],
      ['pipelines.custom (after its variables)', (s: Step) => ({ pipelines: { custom: { release: [{ variables: [{ name: 'V' }] }, { step: s }] } } }), (c: any) => c.pipelines.custom.release[1].step],
      ['a parallel group (steps form)', (s: Step) => ({ pipelines: { default: [{ parallel: { 'fail-fast': true, steps: [{ step: build }, { step: s }] } }] } }), (c: any) => c.pipelines.default[0].parallel.steps[1].step],
      ['a parallel group (list form)', (s: Step) => ({ pipelines: { default: [{ parallel: [{ step: build }, { step: s }] }] } }), (c: any) => c.pipelines.default[0].parallel[1].step],
      ['a stage', (s: Step) => ({ pipelines: { default: [{ stage: { name: 'Ship', steps: [{ step: s }] } }] } }), (c: any) => c.pipelines.default[0].stage.steps[0].step],
      ['definitions.steps (an anchor)', (s: Step) => ({ definitions: { steps: [{ step: s }] }, pipelines: { default: [{ step: build }] } }), (c: any) => c.definitions.steps[0].step],
    ])('in %s', (_, place, stepOf) => {
      const output = rewrite(place(deploy()));
      expect(stepOf(output)).toEqual(gated());
    });

    it('in every step of a stage that deploys to a gated environment', () => {
      const output = rewrite({ pipelines: { default: [{ stage: { deployment: 'Production', steps: [{ step: build }, { step: { name: 'Go', script: ['./go.sh'] } }] } }] } });
      const steps = output.pipelines.default[0].stage.steps.map((s: any) => s.step);
      expect(steps.map((s: Step) => s.script![0])).toEqual([GATE, GATE]);
      expect(steps.map((s: Step) => s.oidc)).toEqual([OIDC, OIDC]);
    });

    it('by name whatever its case, or by UUID', () => {
      expect(rewrite({ pipelines: { default: [{ step: deploy({ deployment: 'PRODUCTION' }) }] } }).pipelines.default[0].step.script[0]).toBe(GATE);
      expect(rewrite({ pipelines: { default: [{ step: deploy({ deployment: PRODUCTION.uuid }) }] } }).pipelines.default[0].step.script[0]).toBe(GATE);
    });

    it('keeps an OIDC setting that already names Countersign among other audiences', () => {
      const oidc = { audiences: ['sts.amazonaws.com', DEPLOYMENT_GATE_AUDIENCE] };
      expect(rewrite({ pipelines: { default: [{ step: deploy({ oidc }) }] } }).pipelines.default[0].step.oidc).toEqual(oidc);
    });

    it("turns `oidc: true` into OIDC with Bitbucket's default audience kept and the gate's added", () => {
      expect(bitbucketDefaultAudience(WORKSPACE)).toBe(DEFAULT_AUDIENCE);
      expect(rewrite({ pipelines: { default: [{ step: deploy({ oidc: true }) }] } }).pipelines.default[0].step.oidc).toEqual(OIDC);
    });

    it("appends the gate's audience to a step's own audiences, keeping them and the rest of its OIDC setting", () => {
      const oidc = { audiences: ['sts.amazonaws.com'], other: 'kept' };
      expect(rewrite({ pipelines: { default: [{ step: deploy({ oidc }) }] } }).pipelines.default[0].step.oidc).toEqual({ audiences: ['sts.amazonaws.com', DEPLOYMENT_GATE_AUDIENCE], other: 'kept' });
    });

    it("gives a map without audiences, or with an empty list, Bitbucket's default audience and the gate's", () => {
      for (const oidc of [{}, { audiences: [] }]) {
        expect(rewrite({ pipelines: { default: [{ step: deploy({ oidc }) }] } }).pipelines.default[0].step.oidc).toEqual(OIDC);
      }
    });

    it('in every place a YAML anchor is used, each once', () => {
      const configuration = parse(`
definitions:
  steps:
    - step: &deploy
        name: Deploy
        deployment: production
        script: [./deploy.sh]
pipelines:
  branches:
    main:
      - step: *deploy
  tags:
    'v*':
      - step: *deploy
`);
      const output = rewrite(configuration);
      expect(JSON.parse(JSON.stringify(output))).toEqual({
        definitions: { steps: [{ step: gated() }] },
        pipelines: { branches: { main: [{ step: gated() }] }, tags: { 'v*': [{ step: gated() }] } },
      });
    });
  });

  describe('leaves alone', () => {
    it('steps that deploy to environments without a policy, and steps that deploy nowhere', () => {
      const configuration = {
        image: 'node:22',
        pipelines: { default: [{ step: build }, { step: deploy({ deployment: 'staging', oidc: false, 'after-script': ['echo done'] }) }], custom: { x: [{ step: { name: 'No script' } }] } },
      };
      expect(rewrite(configuration)).toEqual(configuration);
    });

    it('everything when no environment is gated', () => {
      const configuration = { pipelines: { default: [{ step: deploy({ oidc: false }) }] } };
      expect(rewrite(configuration, [])).toBe(configuration);
    });

    it('an empty configuration (no definition matched the target)', () => {
      expect(rewrite(undefined)).toBeUndefined();
      expect(rewrite({})).toEqual({});
    });

    it('its input', () => {
      const configuration = { pipelines: { default: [{ step: deploy() }] } };
      const before = structuredClone(configuration);
      rewrite(configuration);
      expect(configuration).toEqual(before);
    });
  });

  it('inserts nothing twice when run on its own output', () => {
    const configuration = { pipelines: { default: [{ step: deploy() }, { stage: { deployment: 'production', steps: [{ step: build }] } }] } };
    const once = rewrite(configuration);
    expect(rewrite(once)).toEqual(once);
  });

  it('still inserts its own gate in front of a look-alike pointing elsewhere', () => {
    const lookAlike = gateCommand('https://attacker.example/gate');
    const output = rewrite({ pipelines: { default: [{ step: deploy({ script: [lookAlike, './deploy.sh'] }) }] } });
    expect(output.pipelines.default[0].step.script).toEqual([GATE, lookAlike, './deploy.sh']);
  });

  describe('refuses a gated deployment that would skip the gate', () => {
    it.each([
      ['GATE_OIDC_OFF', 'turns OIDC off', { step: deploy({ oidc: false }) }],
      ['GATE_AUDIENCE', 'gives audiences that are not a list', { step: deploy({ oidc: { audiences: DEPLOYMENT_GATE_AUDIENCE } }) }],
      ['GATE_UNREADABLE', 'has an oidc setting that is neither true nor a map', { step: deploy({ oidc: 'yes' }) }],
      ['GATE_NO_SCRIPT', 'has no script', { step: deploy({ script: undefined }) }],
      ['GATE_NO_SCRIPT', 'has an empty script', { step: deploy({ script: [] }) }],
      ['GATE_AFTER_SCRIPT', 'has an after-script, which runs even when the gate refuses', { step: deploy({ 'after-script': ['./deploy.sh'] }) }],
      ['GATE_OIDC_OFF', 'is in a gated stage and turns OIDC off', { stage: { deployment: 'production', steps: [{ step: { ...build, oidc: false } }] } }],
      ['GATE_UNREADABLE', 'is in something that is not a step, stage or parallel group', { matrix: { deployment: 'production', script: ['./deploy.sh'] } }],
      ['GATE_UNREADABLE', 'is in a parallel group without steps', { parallel: { jobs: [{ step: deploy() }] } }],
    ])('%s when it %s', (code, _, item) => {
      const error = refusal({ pipelines: { branches: { main: [{ step: build }, item] } } });
      expect(error.code).toBe(code);
      expect(error.message).toMatch(/pipelines\.branches\.main\[1\]/);
    });

    it('GATE_UNREADABLE when the configuration is not a map', () => {
      expect(refusal(['not', 'a', 'map']).code).toBe('GATE_UNREADABLE');
      expect(refusal({ pipelines: 'default' }).code).toBe('GATE_UNREADABLE');
    });
  });

  describe('the gate command', () => {
    it('is marked, and refuses a URL it cannot quote safely', () => {
      expect(GATE.startsWith(GATE_COMMAND_MARK)).toBe(true);
      for (const bad of ['http://plain.example/gate', "https://x.example/a'b", 'not a url']) expect(() => gateCommand(bad)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    });

    it.each([
      [200, 0],
      [403, 1],
      [401, 1],
      [503, 1],
    ])('run by sh against a gate answering %i, exits %i and sends the token and commit as the contract says', async (status, exitCode) => {
      const seen: { authorization?: string; body: string }[] = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          seen.push({ authorization: req.headers.authorization, body });
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ allowed: status === 200, message: `answered ${status}` }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      // The same command, aimed at a loopback gate (the command itself only takes https).
      const command = GATE.replace(`'${URL}'`, `'http://127.0.0.1:${port}/x1/gate'`);
      const result = await new Promise<{ code: number; output: string }>((resolve) => {
        execFile('sh', ['-c', command], { env: { PATH: process.env.PATH, BITBUCKET_STEP_OIDC_TOKEN: 'tok.en.sig', BITBUCKET_COMMIT: 'a'.repeat(40) } }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
        );
      });
      await new Promise((resolve) => server.close(resolve));
      expect(result.code).toBe(exitCode);
      expect(result.output).toContain(`answered ${status}`);
      expect(result.output).not.toContain('tok.en.sig');
      expect(seen).toEqual([{ authorization: 'Bearer tok.en.sig', body: JSON.stringify({ commit: 'a'.repeat(40) }) }]);
    });
  });

  describe('property', () => {
    const environment = fc.constantFrom('production', 'Production', 'staging', 'test', undefined);
    const step = fc.record(
      {
        name: fc.string({ maxLength: 8 }),
        deployment: environment,
        script: fc.array(fc.constantFrom('./deploy.sh', 'npm test', GATE, { pipe: 'atlassian/slack-notify:2.2.0' }), { minLength: 1, maxLength: 3 }),
        oidc: fc.constantFrom(undefined, true, { audiences: [DEPLOYMENT_GATE_AUDIENCE] }, { audiences: ['sts.amazonaws.com', DEPLOYMENT_GATE_AUDIENCE] }, { audiences: ['sts.amazonaws.com'] }),
        trigger: fc.constantFrom(undefined, 'manual'),
      },
      { requiredKeys: ['script'] },
    );
    const item = fc.oneof(
      step.map((s) => ({ step: s })),
      fc.array(step, { minLength: 1, maxLength: 3 }).map((steps) => ({ parallel: { steps: steps.map((s) => ({ step: s })) } })),
      fc.tuple(environment, fc.array(step, { minLength: 1, maxLength: 3 })).map(([deployment, steps]) => ({
        stage: { ...(deployment === undefined ? {} : { deployment }), steps: steps.map((s) => ({ step: { ...s, deployment: undefined } })) },
      })),
    );
    const pipeline = fc.array(item, { maxLength: 4 });
    const configuration = fc.record({
      pipelines: fc.record(
        { default: pipeline, branches: fc.dictionary(fc.constantFrom('main', 'release/*'), pipeline), tags: fc.dictionary(fc.constantFrom('v*', 'release-*'), pipeline), custom: fc.dictionary(fc.constantFrom('ship'), pipeline) },
        { requiredKeys: [] },
      ),
    });

    /** Every step in a configuration, with the environment it deploys to (its own, or its stage's). */
    function stepsOf(config: any): { step: any; environment?: string }[] {
      const sections = Object.entries(config.pipelines ?? {}).flatMap(([key, value]) => (key === 'default' ? [value] : Object.values(value as object)));
      return (sections as any[][]).flat().flatMap((entry: any) => {
        if (entry.step) return [{ step: entry.step, environment: entry.step.deployment }];
        if (entry.parallel) return entry.parallel.steps.map((s: any) => ({ step: s.step, environment: s.step.deployment }));
        return entry.stage.steps.map((s: any) => ({ step: s.step, environment: s.step.deployment ?? entry.stage.deployment }));
      });
    }

    it('every step deploying to a gated environment starts with the gate and has OIDC with its audience; the others are unchanged', () => {
      fc.assert(
        fc.property(configuration, (input) => {
          const output = rewrite(input);
          const before = stepsOf(input);
          stepsOf(output).forEach(({ step, environment }, index) => {
            if (environment?.toLowerCase() === 'production') {
              expect(step.script[0]).toBe(GATE);
              expect(step.script.filter((c: unknown) => c === GATE).length).toBeLessThanOrEqual(before[index]!.step.script.filter((c: unknown) => c === GATE).length + 1);
              expect(step.oidc.audiences).toContain(DEPLOYMENT_GATE_AUDIENCE);
              // What the step could already do with its token, it still can.
              const had = before[index]!.step.oidc;
              const kept = had === undefined || had === true ? [DEFAULT_AUDIENCE] : had.audiences;
              expect(step.oidc.audiences).toEqual(expect.arrayContaining(kept));
            } else {
              expect(step).toEqual(before[index]!.step);
            }
          });
          expect(rewrite(output)).toEqual(output);
        }),
        { numRuns: 300 },
      );
    });
  });
});
