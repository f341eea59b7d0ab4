import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { main } from '../../src/cli/verify';
import { readEntry } from '../../src/core';
import { approvalBundleOf, exportedEventOf } from '../../src/core/exports';
import { onDeploymentEvent } from '../../src/handlers/deploymentEvents';
import { aPipeline, deploy, deploymentEvent, deploymentRun, environments, MERGE_COMMIT, PRODUCTION, savePolicyWith, STAGING, UNGATED } from '../fixtures/deploymentRun';
import { entriesOf } from '../fixtures/evidenceRun';
import { commitHash, PEOPLE, REPOSITORY, World } from '../fixtures/world';
import { verifyWithSigstore } from '../support/sigstoreBundle';

/** Bitbucket's deployment events: recorded once each, flagged when a gated deployment ran without the gate's yes. */
type Event = Record<string, any>;

async function reports(world: World): Promise<Event[]> {
  const signed = await world.deps.ledger.readLedger(REPOSITORY);
  return signed.map((s) => readEntry(s)!.event as Event).filter((e) => e.type === 'deployment.reported');
}

describe('deployment events', () => {
  let world: World;
  beforeEach(async () => {
    world = new World();
    await savePolicyWith(world, environments());
  });
  afterEach(() => world.dispose());

  const DEPLOYMENT = '{abababab-abab-4bab-8bab-abababababab}';

  it('records each state once, however often it is delivered, in whatever order', async () => {
    const pipeline = aPipeline(world, MERGE_COMMIT);
    const at = (state: 'pending' | 'started' | 'completed') => deploymentEvent(state, { pipeline, deployment: DEPLOYMENT, environment: STAGING, status: 'FAILED' });
    const outcomes = [];
    for (const state of ['completed', 'started', 'completed', 'pending', 'started', 'pending'] as const) outcomes.push(await onDeploymentEvent(world.deps, at(state)));
    expect(outcomes.map((o) => 'recorded' in o && o.recorded)).toEqual([true, true, false, true, false, false]);
    const recorded = await reports(world);
    expect(recorded.map((r) => r.state)).toEqual(['completed', 'started', 'pending']);
    expect(recorded[0]).toEqual({
      type: 'deployment.reported',
      subject: { kind: 'deployment', workspace: expect.any(String), repository: REPOSITORY, environment: STAGING, commit: MERGE_COMMIT },
      state: 'completed',
      outcome: 'FAILED',
      pipeline,
      deployment: DEPLOYMENT,
      allowed: false,
      flagged: false,
    });
  });

  it('flags a gated deployment that completed without an allowing answer', async () => {
    const pipeline = aPipeline(world, commitHash('unapproved'));
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    await onDeploymentEvent(world.deps, deploymentEvent('started', { pipeline, deployment: DEPLOYMENT, environment: PRODUCTION }));
    const outcome = await onDeploymentEvent(world.deps, deploymentEvent('completed', { pipeline, deployment: DEPLOYMENT, environment: PRODUCTION, status: 'SUCCESSFUL' }));
    expect(outcome).toMatchObject({ recorded: true, allowed: false, flagged: true, commit: commitHash('unapproved') });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("without Countersign's approval"));
    warn.mockRestore();
    // `started` comes before the gate's answer (it runs inside the step), so only `completed` is judged.
    expect((await reports(world)).map((r) => [r.state, r.flagged])).toEqual([
      ['started', false],
      ['completed', true],
    ]);
  });

  it('does not flag a deployment the gate allowed', async () => {
    const carol = await world.enrolledSigner(PEOPLE.carol);
    const pipeline = aPipeline(world, MERGE_COMMIT);
    await deploy(world, { environment: STAGING, name: 'Staging', commit: MERGE_COMMIT, approvers: [carol], pipeline });
    const outcome = await onDeploymentEvent(world.deps, deploymentEvent('completed', { pipeline, deployment: DEPLOYMENT, environment: STAGING, status: 'SUCCESSFUL' }));
    expect(outcome).toMatchObject({ recorded: true, allowed: true, flagged: false });
  });

  it('flags another pipeline of a commit the gate allowed for one pipeline only (no gate step, or a shimmed curl)', async () => {
    const carol = await world.enrolledSigner(PEOPLE.carol);
    const gated = aPipeline(world, MERGE_COMMIT);
    await deploy(world, { environment: STAGING, name: 'Staging', commit: MERGE_COMMIT, approvers: [carol], pipeline: gated });
    const other = aPipeline(world, MERGE_COMMIT);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const outcome = await onDeploymentEvent(world.deps, deploymentEvent('completed', { pipeline: other, deployment: DEPLOYMENT, environment: STAGING, status: 'SUCCESSFUL' }));
    warn.mockRestore();
    expect(outcome).toMatchObject({ recorded: true, allowed: false, flagged: true, commit: MERGE_COMMIT });
    const second = '{abababab-abab-4bab-8bab-000000000003}';
    expect(await onDeploymentEvent(world.deps, deploymentEvent('completed', { pipeline: gated, deployment: second, environment: STAGING, status: 'SUCCESSFUL' }))).toMatchObject({ allowed: true, flagged: false });
    expect((await reports(world)).map((r) => [r.pipeline, r.allowed, r.flagged])).toEqual([
      [other, false, true],
      [gated, true, false],
    ]);
  });

  it('does not flag a step the gate refused (FAILED) or stopped while it waited', async () => {
    for (const status of ['FAILED', 'STOPPED']) {
      const pipeline = aPipeline(world, commitHash(status));
      const deployment = `{abababab-abab-4bab-8bab-${status === 'FAILED' ? '000000000001' : '000000000002'}}`;
      expect(await onDeploymentEvent(world.deps, deploymentEvent('completed', { pipeline, deployment, environment: PRODUCTION, status }))).toMatchObject({ allowed: false, flagged: false });
    }
  });

  it('does not flag a deployment to an environment no policy gates', async () => {
    const pipeline = aPipeline(world, MERGE_COMMIT);
    expect(await onDeploymentEvent(world.deps, deploymentEvent('completed', { pipeline, deployment: DEPLOYMENT, environment: UNGATED, status: 'SUCCESSFUL' }))).toMatchObject({ recorded: true, allowed: false, flagged: false });
  });

  it('ignores, with a log line, what it cannot read: a payload it does not understand, a pipeline Bitbucket does not know', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(await onDeploymentEvent(world.deps, { eventType: 'avi:bitbucket:started:deployment', repository: { uuid: REPOSITORY } })).toEqual({ ignored: expect.any(String) });
    expect(await onDeploymentEvent(world.deps, deploymentEvent('started', { pipeline: '{12121212-1212-4212-8212-121212121212}', deployment: DEPLOYMENT, environment: STAGING }))).toEqual({ ignored: expect.any(String) });
    expect(warn).toHaveBeenCalledTimes(2);
    warn.mockRestore();
    expect(await reports(world)).toEqual([]);
  });
});

describe('countersign verify on deployments', () => {
  let dir: string;
  let good: string;
  let flagged: string;
  let flaggedSeq: number;
  let decisions: Event[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-deploy-'));
    const run = await deploymentRun();
    good = join(dir, 'good.jsonl');
    writeFileSync(good, `${run.lines.join('\n')}\n`);
    decisions = entriesOf(run.lines).map((e) => exportedEventOf(e) as Event).filter((e) => e?.type === 'deployment.decision.accepted');
    run.world.dispose();
    const bad = await deploymentRun({ unapproved: true });
    flagged = join(dir, 'flagged.jsonl');
    writeFileSync(flagged, `${bad.lines.join('\n')}\n`);
    flaggedSeq = entriesOf(bad.lines).find((e) => (e.event as Event).flagged)!.seq;
    bad.world.dispose();
  });

  async function cli(args: string[]) {
    let stdout = '';
    const code = await main(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: () => undefined }, stdin: Readable.from(['']) });
    return { code, stdout };
  }

  it('exits 0 and lists each deployment, re-run and chained', async () => {
    const { code, stdout } = await cli(['verify', good]);
    expect(code).toBe(0);
    expect(stdout).toContain('deployments: 3 decisions, 2 allowed by the gate, 4 reports from Bitbucket (0 flagged)');
    expect(stdout).toMatch(new RegExp(`deploy ${MERGE_COMMIT.slice(0, 7)} to \\{5{8}.*allowed\\): re-run agrees, merge -> deploy chain holds`));
  });

  it('exits 3 on a flagged deployment, naming the entry', async () => {
    const { code, stdout } = await cli(['verify', flagged]);
    expect(code).toBe(3);
    expect(stdout).toMatch(/^FLAGGED /);
    expect(stdout).toMatch(new RegExp(`entry ${flaggedSeq} \\(line ${flaggedSeq + 1}\\) {2}DEPLOYMENT_FLAGGED {2}Entry ${flaggedSeq} `));
  });

  it('--json includes the deployment results and findings', async () => {
    const { code, stdout } = await cli(['verify', flagged, '--json']);
    expect(code).toBe(3);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      ok: false,
      problems: [],
      counts: { deploymentDecisions: 3, deployments: 2, deploymentReports: 6, flagged: 1 },
      findings: [{ seq: flaggedSeq, line: flaggedSeq + 1, code: 'DEPLOYMENT_FLAGGED', message: expect.any(String) }],
    });
    expect(report.deployments).toContainEqual({ seq: expect.any(Number), type: 'deployment.allowed', environment: PRODUCTION, commit: MERGE_COMMIT, reproduced: true, chain: 'met' });
    expect(report.deployments).toContainEqual({ seq: flaggedSeq, type: 'deployment.reported', environment: PRODUCTION, commit: expect.any(String), state: 'completed', outcome: 'SUCCESSFUL', allowed: false, flagged: true });
  });

  it('exports each deployment approval as a Sigstore bundle that @sigstore/verify accepts, and refuses changed', async () => {
    expect(decisions).toHaveLength(3);
    for (const decision of decisions) {
      const bundle = approvalBundleOf(decision as never)!;
      await expect(verifyWithSigstore(bundle, decision.publicKey, decision.keyId)).resolves.toBeUndefined();
      const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
      payload[payload.length - 3] = payload[payload.length - 3]! ^ 0x01;
      const tampered = { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: payload.toString('base64') } };
      await expect(verifyWithSigstore(tampered, decision.publicKey, decision.keyId)).rejects.toThrow();
    }
  });
});
