import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { deploymentId, readEntry } from '../../src/core';
import { BitbucketRest } from '../../src/adapters/bitbucketRest';
import type { FakePipeline } from '../../dev/fakeBitbucket';
import { aRule, commitHash, PEOPLE, REPOSITORY, World } from '../fixtures/world';
import { signPending } from '../fixtures/deploymentRequests';
import { anEnvironment, approvers, callGate, PRODUCTION, saveEnvironments, seedDeploymentDecision, seedEnvironments, STAGING, stepToken } from '../fixtures/deployments';

/** The deployment gate web trigger, against the fake Bitbucket (with its Pipelines OIDC issuer) and the fake KVS. */
const RELEASE = commitHash('release 1.2.0');
const deploymentEvents = async (world: World) =>
  (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!.event as any).filter((e) => e.type.startsWith('deployment.'));

describe('deployment gate', () => {
  let world: World;
  let pipeline: FakePipeline;
  let policyHash: string;

  beforeEach(async () => {
    world = new World();
    seedEnvironments(world);
    world.host.bitbucket.seedCommit(world.repo, { hash: RELEASE, author: PEOPLE.author, message: 'Release 1.2.0' });
    world.host.bitbucket.addTag(world.repo, 'v1.2.0', RELEASE);
    pipeline = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'tag', name: 'v1.2.0' }, creator: PEOPLE.dave, buildNumber: 42 });
    policyHash = (await saveEnvironments(world, [anEnvironment()])).hash;
  });
  afterEach(() => world.dispose());

  const approve = async (people: string[], commit = RELEASE, environment = PRODUCTION, hash = policyHash) => {
    for (const signer of await approvers(...people)) await seedDeploymentDecision(world, signer, { environment, commit, policy: hash });
  };
  const gate = async (options: { token?: string; body?: unknown; method?: string; pipeline?: FakePipeline; environment?: string } = {}) =>
    callGate(world, {
      token: options.token ?? (await stepToken(world, options.pipeline ?? pipeline, options.environment ?? PRODUCTION)),
      body: options.body ?? { commit: (options.pipeline ?? pipeline).commit },
      ...(options.method ? { method: options.method } : {}),
    });

  describe('when the quorum is reached', () => {
    it('answers 200 with who approved, marks the request allowed and records a deployment.allowed entry pointing at the counted decisions', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const answer = await gate();
      expect(answer.status).toBe(200);
      expect(answer.contentType).toEqual(['application/json']);
      expect(answer.body).toMatchObject({
        allowed: true,
        gated: true,
        message: expect.stringContaining('approved to deploy'),
        approvedBy: expect.arrayContaining([{ accountId: PEOPLE.alice, name: null }, { accountId: PEOPLE.bob, name: null }]),
        request: { state: 'allowed', environment: PRODUCTION, environmentName: 'Production', commit: RELEASE, pipeline: pipeline.uuid },
      });
      expect(answer.body.approvedBy).toHaveLength(2);

      const events = await deploymentEvents(world);
      expect(events.map((e) => e.type)).toEqual(['deployment.decision.accepted', 'deployment.decision.accepted', 'deployment.requested', 'deployment.allowed']);
      const allowed = events[3];
      expect(allowed).toMatchObject({ pipeline: pipeline.uuid, subject: { kind: 'deployment', repository: REPOSITORY, environment: PRODUCTION, commit: RELEASE } });
      expect(allowed.verdict).toMatchObject({ gated: true, policy: { hash: policyHash }, facts: { commit: RELEASE, ref: { type: 'tag', name: 'v1.2.0' }, commitAuthor: PEOPLE.author, pipelineStarter: PEOPLE.dave } });
      const ledger = (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!);
      for (const counted of allowed.verdict.counted) {
        expect(ledger.find((e) => e.seq === counted.entry)!.event).toMatchObject({ type: 'deployment.decision.accepted', signer: counted.signer, keyId: counted.keyId });
      }
      expect(allowed.verdict.counted.map((c: any) => c.signer)).toEqual([PEOPLE.alice, PEOPLE.bob].sort());
      expect(events[2].request).toMatchObject({ environment: PRODUCTION, commit: RELEASE, pipeline: pipeline.uuid, buildNumber: 42, ref: { type: 'tag', name: 'v1.2.0' }, pipelineStarter: PEOPLE.dave, commitAuthor: PEOPLE.author });
      expect(await world.deps.deployments.wasAllowed(REPOSITORY, `${PRODUCTION.slice(1, -1)}:${RELEASE}`, pipeline.uuid)).toBe(true);
    });

    it('records the allowance once per pipeline, however often its step asks', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      expect((await gate()).status).toBe(200);
      expect((await gate()).status).toBe(200);
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.allowed')).toHaveLength(1);
    });
  });

  describe('when an allowed deployment loses its quorum', () => {
    it('answers 403 with what is missing, reopens the request, and lets people sign it again', async () => {
      const [alice, bob, carol] = [await world.enrolledSigner(PEOPLE.alice), await world.enrolledSigner(PEOPLE.bob), await world.enrolledSigner(PEOPLE.carol)];
      for (const signer of [alice, bob]) await seedDeploymentDecision(world, signer, { environment: PRODUCTION, commit: RELEASE, policy: policyHash });
      expect((await gate()).status).toBe(200);
      expect(await world.deps.deployments.listDeploymentRequests(REPOSITORY, 'allowed', 10)).toHaveLength(1);

      expect(await world.call('revokeKey', PEOPLE.bob, { keyId: bob.keyId })).toMatchObject({ ok: true });
      const refused = await gate();
      expect(refused).toMatchObject({ status: 403, body: { allowed: false, code: 'APPROVALS_MISSING', missing: ['Release managers: 1 of 2 signed.'], request: { state: 'pending', commit: RELEASE } } });
      expect(refused.body.request.allowedAt).toBeUndefined();
      const id = deploymentId({ environment: PRODUCTION, commit: RELEASE });
      expect((await world.deps.deployments.loadDeployment(REPOSITORY, { environment: PRODUCTION, commit: RELEASE })).request).toMatchObject({ id, state: 'pending' });
      expect((await world.deps.deployments.listDeploymentRequests(REPOSITORY, 'pending', 10)).map((r) => [r.id, r.state])).toEqual([[id, 'pending']]);
      expect(await world.deps.deployments.listDeploymentRequests(REPOSITORY, 'allowed', 10)).toEqual([]);

      // Carol signs on the page (it was refused DEPLOYMENT_NOT_PENDING while the request stayed allowed), and the same pipeline gets through again.
      expect(await signPending(world, carol)).toMatchObject({ ok: true, data: { verdict: { pass: true } } });
      const again = await gate();
      expect(again).toMatchObject({ status: 200, body: { allowed: true, request: { state: 'allowed' } } });
      expect((await world.deps.deployments.loadDeployment(REPOSITORY, { environment: PRODUCTION, commit: RELEASE })).request).toMatchObject({ state: 'allowed' });
      const allowances = (await deploymentEvents(world)).filter((e) => e.type === 'deployment.allowed');
      expect(allowances.map((e) => e.verdict.counted.map((c: any) => c.signer).sort())).toEqual([[PEOPLE.alice, PEOPLE.bob].sort(), [PEOPLE.alice, PEOPLE.carol].sort()]);
    });

    it('keeps the request allowed when only another pipeline is refused (its ref), as the request itself still passes', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      expect((await gate()).status).toBe(200);
      const nightly = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'tag', name: 'nightly-7' }, creator: PEOPLE.dave });
      expect(await gate({ pipeline: nightly })).toMatchObject({ status: 403, body: { code: 'REF_NOT_ALLOWED', request: { state: 'allowed' } } });
      expect((await world.deps.deployments.loadDeployment(REPOSITORY, { environment: PRODUCTION, commit: RELEASE })).request).toMatchObject({ state: 'allowed' });
    });
  });

  describe('when approvals are missing', () => {
    it('answers 403 saying in words what is missing, and leaves one pending request', async () => {
      await approve([PEOPLE.alice]);
      const answer = await gate();
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ allowed: false, code: 'APPROVALS_MISSING', missing: ['Release managers: 1 of 2 signed.'], request: { state: 'pending', commit: RELEASE } });
      expect(answer.body.message).toContain('may not deploy to Production yet');
      await gate();
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.requested')).toHaveLength(1);
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.allowed')).toHaveLength(0);
    });

    it('does not count a rejection, and names who rejected', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const [carol] = await approvers(PEOPLE.carol);
      await seedDeploymentDecision(world, carol!, { environment: PRODUCTION, commit: RELEASE, policy: policyHash, decision: 'reject' });
      const answer = await gate();
      expect(answer).toMatchObject({ status: 403, body: { code: 'DEPLOYMENT_REJECTED', missing: [expect.stringContaining('Rejected by')] } });
    });
  });

  describe('refs', () => {
    it('refuses a tag outside the allowed patterns, naming the patterns', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      world.host.bitbucket.addTag(world.repo, 'nightly-7', RELEASE);
      const nightly = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'tag', name: 'nightly-7' }, creator: PEOPLE.dave });
      const answer = await gate({ pipeline: nightly });
      expect(answer).toMatchObject({ status: 403, body: { allowed: false, code: 'REF_NOT_ALLOWED', request: null } });
      expect(answer.body.missing[0]).toBe('Production deploys only from tags v*; this pipeline runs for tag "nightly-7".');
      // No signature can fix a ref, so no request is opened for people to sign.
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.requested')).toEqual([]);
      expect(await world.deps.deployments.listDeploymentRequests(REPOSITORY, 'pending', 10)).toEqual([]);
    });

    it('refuses a custom run on a bare commit when the environment names refs', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const bare = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, creator: PEOPLE.dave });
      expect(await gate({ pipeline: bare })).toMatchObject({ status: 403, body: { code: 'REF_NOT_ALLOWED', missing: [expect.stringContaining('no branch or tag')] } });
    });

    it('lets an allowed branch through and refuses another branch', async () => {
      policyHash = (await saveEnvironments(world, [anEnvironment({ environment: STAGING, name: 'Staging', tags: [], branches: ['main'] })])).hash;
      await approve([PEOPLE.alice, PEOPLE.bob], RELEASE, STAGING);
      world.repo.heads = { main: RELEASE, 'feature/x': RELEASE };
      const main = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'branch', name: 'main' } });
      expect(await gate({ pipeline: main, environment: STAGING })).toMatchObject({ status: 200, body: { allowed: true, gated: true } });
      const feature = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'branch', name: 'feature/x' } });
      expect(await gate({ pipeline: feature, environment: STAGING })).toMatchObject({ status: 403, body: { code: 'REF_NOT_ALLOWED' } });
    });

    it('refuses a pipeline started "for tag v9.9.9" on a commit that tag does not point at, or for a tag that does not exist', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const other = commitHash('the real v9.9.9');
      world.host.bitbucket.seedCommit(world.repo, { hash: other, author: PEOPLE.author, message: 'Release 9.9.9' });
      world.host.bitbucket.addTag(world.repo, 'v9.9.9', other);
      const forged = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'tag', name: 'v9.9.9' }, creator: PEOPLE.dave });
      const answer = await gate({ pipeline: forged });
      expect(answer).toMatchObject({ status: 403, body: { allowed: false, code: 'REF_NOT_ALLOWED' } });
      expect(answer.body.missing).toEqual([`Production deploys only from tags v*; this pipeline runs for tag "v9.9.9", but that tag does not point at commit ${RELEASE.slice(0, 7)}, so it counts as no tag.`]);
      const missingTag = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'tag', name: 'v7.0.0' }, creator: PEOPLE.dave });
      expect(await gate({ pipeline: missingTag })).toMatchObject({ status: 403, body: { code: 'REF_NOT_ALLOWED', missing: [expect.stringContaining('that tag does not point at commit')] } });
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.allowed')).toHaveLength(0);
      // A refused ref is not something signatures can fix: no request was opened for it.
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.requested')).toHaveLength(0);
    });

    it('refuses a pipeline started "for branch main" on a commit that is not main\'s head, telling them to deploy the head', async () => {
      policyHash = (await saveEnvironments(world, [anEnvironment({ environment: STAGING, name: 'Staging', tags: [], branches: ['main'] })])).hash;
      await approve([PEOPLE.alice, PEOPLE.bob], RELEASE, STAGING);
      world.repo.heads = { main: commitHash('main moved on') };
      const stale = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'branch', name: 'main' } });
      const answer = await gate({ pipeline: stale, environment: STAGING });
      expect(answer).toMatchObject({ status: 403, body: { code: 'REF_NOT_ALLOWED' } });
      expect(answer.body.missing).toEqual([`Staging deploys only from branches main; this pipeline runs for branch "main", but that branch does not point at commit ${RELEASE.slice(0, 7)}: the branch has moved on (or is gone), so deploy its head.`]);
      world.repo.heads = { main: RELEASE };
      expect(await gate({ pipeline: stale, environment: STAGING })).toMatchObject({ status: 200, body: { allowed: true } });
    });

    it('lets a pipeline whose ref does not hold through where the environment names no refs (there is no ref to check)', async () => {
      policyHash = (await saveEnvironments(world, [anEnvironment({ tags: [] })])).hash;
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const stray = world.host.bitbucket.seedPipeline(world.repo, { commit: RELEASE, ref: { type: 'tag', name: 'nowhere' }, creator: PEOPLE.dave });
      const answer = await gate({ pipeline: stray });
      expect(answer.status).toBe(200);
      const allowed = (await deploymentEvents(world)).find((e) => e.type === 'deployment.allowed');
      expect(allowed.verdict.facts).toMatchObject({ unverifiedRef: { type: 'tag', name: 'nowhere' } });
      expect(allowed.verdict.facts.ref).toBeUndefined();
    });
  });

  describe('separation of duties', () => {
    const managers = [PEOPLE.alice, PEOPLE.author, PEOPLE.dave];

    it("does not count the commit author's own approval, unless the policy allows it", async () => {
      policyHash = (await saveEnvironments(world, [anEnvironment({ requirements: [{ group: 'Release managers', members: managers, count: 2 }], excludePipelineStarter: false })])).hash;
      await approve([PEOPLE.alice, PEOPLE.author]);
      expect(await gate()).toMatchObject({ status: 403, body: { missing: ['Release managers: 1 of 2 signed.'] } });
      policyHash = (await saveEnvironments(world, [anEnvironment({ requirements: [{ group: 'Release managers', members: managers, count: 2 }], excludeCommitAuthor: false })])).hash;
      expect((await gate()).status).toBe(200);
    });

    it("does not count the pipeline starter's approval, unless the policy allows it", async () => {
      policyHash = (await saveEnvironments(world, [anEnvironment({ requirements: [{ group: 'Release managers', members: managers, count: 2 }] })])).hash;
      await approve([PEOPLE.alice, PEOPLE.dave]);
      expect(await gate()).toMatchObject({ status: 403, body: { missing: ['Release managers: 1 of 2 signed.'] } });
      policyHash = (await saveEnvironments(world, [anEnvironment({ requirements: [{ group: 'Release managers', members: managers, count: 2 }], excludePipelineStarter: false })])).hash;
      expect((await gate()).status).toBe(200);
    });
  });

  describe('the merge before it', () => {
    /** Merges the world's pull request in Bitbucket (closed by `merger`), with or without its quorum, and returns the commit the merge wrote. */
    const merge = async (withQuorum: boolean, merger = PEOPLE.carol): Promise<string> => {
      await world.savePolicy([aRule()]);
      if (withQuorum) for (const person of [PEOPLE.alice, PEOPLE.bob]) await world.sign(await world.enrolledSigner(person));
      world.pr.state = 'MERGED';
      world.pr.closedBy = merger;
      await world.prEvent('avi:bitbucket:fulfilled:pullrequest');
      const record = (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!.event as any).find((e) => e.type.startsWith('merge.'));
      expect(record).toMatchObject({ merger, mergeCommit: expect.stringMatching(/^[0-9a-f]{40}$/) });
      return record.mergeCommit;
    };
    /** A pipeline for branch main at `commit`, main's head (the fake learns a head only when something moves it). */
    const onMain = (commit: string) => {
      (world.repo.heads ??= {}).main = commit;
      return world.host.bitbucket.seedPipeline(world.repo, { commit, ref: { type: 'branch', name: 'main' } });
    };
    const staging = (overrides: Parameters<typeof anEnvironment>[0] = {}) => anEnvironment({ environment: STAGING, name: 'Staging', tags: [], branches: ['main'], ...overrides });
    const save = async (overrides: Parameters<typeof anEnvironment>[0] = {}) => {
      const current = await world.deps.gate.loadPolicy(REPOSITORY);
      policyHash = (await saveEnvironments(world, [staging(overrides)], current?.rules)).hash;
    };

    it('refuses a commit no pull request brought in when a merged pull request is required', async () => {
      await save({ requireMergedPullRequest: true });
      await approve([PEOPLE.alice, PEOPLE.bob], RELEASE, STAGING);
      expect(await gate({ pipeline: onMain(RELEASE), environment: STAGING })).toMatchObject({ status: 403, body: { code: 'MERGE_REQUIRED', request: null, missing: [expect.stringContaining('did not reach its branch through a pull request')] } });
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.requested')).toEqual([]);
    });

    it('refuses a commit merged without its merge quorum', async () => {
      const commit = await merge(false);
      await save({ requireMergedPullRequest: true });
      await approve([PEOPLE.alice, PEOPLE.bob], commit, STAGING);
      expect(await gate({ pipeline: onMain(commit), environment: STAGING })).toMatchObject({ status: 403, body: { code: 'MERGE_REQUIRED', request: null, missing: [expect.stringContaining('without its merge quorum')] } });
      expect(await world.deps.deployments.listDeploymentRequests(REPOSITORY, 'pending', 10)).toEqual([]);
    });

    it('lets a commit merged with its quorum through, and keeps the merge in the request', async () => {
      const commit = await merge(true);
      await save({ requireMergedPullRequest: true });
      await approve([PEOPLE.alice, PEOPLE.bob], commit, STAGING);
      expect(await gate({ pipeline: onMain(commit), environment: STAGING })).toMatchObject({ status: 200, body: { allowed: true } });
      const requested = (await deploymentEvents(world)).find((e) => e.type === 'deployment.requested');
      expect(requested.request.merge).toMatchObject({ pullRequest: 1, gated: true, pass: true, merger: PEOPLE.carol });
    });

    it("does not count the merger's approval, unless the policy allows it", async () => {
      const commit = await merge(true, PEOPLE.carol);
      await save();
      await approve([PEOPLE.alice, PEOPLE.carol], commit, STAGING);
      expect(await gate({ pipeline: onMain(commit), environment: STAGING })).toMatchObject({ status: 403, body: { missing: ['Release managers: 1 of 2 signed.'] } });
      await save({ excludeMerger: false });
      expect((await gate({ pipeline: onMain(commit), environment: STAGING })).status).toBe(200);
    });

    it("does not count the merged pull request's author or its commits' authors, though the merge commit's git author is the merger", async () => {
      world.push('a fix by dave', PEOPLE.dave);
      const commit = await merge(true, PEOPLE.carol);
      // A merge commit's git author is whoever merged it.
      world.host.bitbucket.seedCommit(world.repo, { hash: commit, author: PEOPLE.carol, message: 'Merged in feature (pull request #1)' });
      const managers = [PEOPLE.alice, PEOPLE.author, PEOPLE.dave];
      await save({ requirements: [{ group: 'Release managers', members: managers, count: 2 }], excludeMerger: false });
      await approve(managers, commit, STAGING);
      const answer = await gate({ pipeline: onMain(commit), environment: STAGING });
      expect(answer).toMatchObject({ status: 403, body: { missing: ['Release managers: 1 of 2 signed.'] } });
      const requested = (await deploymentEvents(world)).find((e) => e.type === 'deployment.requested');
      expect(requested.request).toMatchObject({ commitAuthor: PEOPLE.carol, merge: { pullRequest: 1, author: PEOPLE.author, commitAuthors: [PEOPLE.author, PEOPLE.dave].sort(), targetBranch: 'main' } });
      await save({ requirements: [{ group: 'Release managers', members: managers, count: 2 }], excludeMerger: false, excludeCommitAuthor: false });
      await approve(managers, commit, STAGING);
      expect((await gate({ pipeline: onMain(commit), environment: STAGING })).status).toBe(200);
    });

    it('takes a merge only into a branch the environment names, when it names branches', async () => {
      const commit = await merge(true);
      await save({ requireMergedPullRequest: true, branches: ['release/*'] });
      await approve([PEOPLE.alice, PEOPLE.bob], commit, STAGING);
      (world.repo.heads ??= {})['release/1.0'] = commit;
      const release = world.host.bitbucket.seedPipeline(world.repo, { commit, ref: { type: 'branch', name: 'release/1.0' } });
      const answer = await gate({ pipeline: release, environment: STAGING });
      expect(answer).toMatchObject({ status: 403, body: { code: 'MERGE_REQUIRED' } });
      expect(answer.body.missing).toEqual([`Commit ${commit.slice(0, 7)} was merged in pull request #1 into branch "main", but Staging takes merges only into branches release/*.`]);
      await save({ requireMergedPullRequest: true, branches: ['release/*', 'main'] });
      await approve([PEOPLE.alice, PEOPLE.bob], commit, STAGING);
      expect(await gate({ pipeline: release, environment: STAGING })).toMatchObject({ status: 200 });
    });

    it("keeps a commit's best merge in the index: a gated, passing merge replaces one that was not, and nothing displaces it", async () => {
      const commit = await merge(false);
      const bypass = (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!.event as any).find((e) => e.type === 'merge.bypassed');
      const stored = async () => (await world.deps.deployments.loadDeployment(REPOSITORY, { environment: STAGING, commit })).merge;
      expect(await stored()).toMatchObject({ pullRequest: 1, gated: true, pass: false });
      // A second pull request fast-forwards the same commit with its quorum, then a third is bypassed.
      const at = world.clock.toISOString();
      const passing = { ...structuredClone(bypass), type: 'merge.recorded', bypassed: false, verdict: { ...bypass.verdict, pass: true }, subject: { ...bypass.subject, pullRequest: 2 } };
      expect(await world.deps.reevaluation.recordMerge(REPOSITORY, 2, at, passing)).toBe(true);
      expect(await stored()).toMatchObject({ pullRequest: 2, gated: true, pass: true, targetBranch: 'main', author: PEOPLE.author });
      expect(await world.deps.reevaluation.recordMerge(REPOSITORY, 3, at, { ...structuredClone(bypass), subject: { ...bypass.subject, pullRequest: 3 } })).toBe(true);
      expect(await stored()).toMatchObject({ pullRequest: 2, pass: true });
    });

    it('records the merge it relied on with its ledger entry, for the verifier to check', async () => {
      const commit = await merge(true);
      await save({ requireMergedPullRequest: true });
      await approve([PEOPLE.alice, PEOPLE.bob], commit, STAGING);
      expect((await gate({ pipeline: onMain(commit), environment: STAGING })).status).toBe(200);
      const ledger = (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!);
      const mergeEntry = ledger.find((e) => (e.event as any).type === 'merge.recorded')!;
      const allowed = (await deploymentEvents(world)).find((e) => e.type === 'deployment.allowed');
      expect(allowed.verdict.facts.merge).toMatchObject({ pullRequest: 1, entry: mergeEntry.seq, targetBranch: 'main', author: PEOPLE.author });
    });
  });

  describe('an environment without a policy', () => {
    it('answers 200 gated:false and opens no request', async () => {
      const answer = await gate({ environment: STAGING });
      expect(answer).toMatchObject({ status: 200, body: { allowed: true, gated: false, approvedBy: [], request: null } });
      expect(answer.body.message).toContain('not gated');
      expect(await deploymentEvents(world)).toEqual([]);
    });
  });

  describe('tokens', () => {
    const refusedAndNothingStored = async (token: string, reason: RegExp) => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const before = world.host.kvs.snapshot();
      const answer = await callGate(world, { token, body: { commit: RELEASE } });
      expect(answer).toEqual({ status: 401, contentType: ['application/json'], body: { allowed: false, code: 'NOT_AUTHENTICATED', message: expect.stringMatching(reason) } });
      expect(world.host.kvs.snapshot()).toBe(before);
    };

    it('refuses a forged token (signed with another key under the workspace kid)', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await refusedAndNothingStored(await stepToken(world, pipeline, PRODUCTION, { signWith: privateKey }), /signature does not verify/);
    });

    it('refuses an expired token', async () => {
      await refusedAndNothingStored(await stepToken(world, pipeline, PRODUCTION, { now: new Date(world.clock.getTime() - 2 * 3600_000), ttlSeconds: 3600 }), /expired/);
    });

    it('refuses a token for another audience (the workspace default)', async () => {
      await refusedAndNothingStored(await world.host.bitbucket.mintStepToken(world.repo, { pipeline: pipeline.uuid, environment: PRODUCTION, now: world.clock }), /audiences/);
    });

    it('refuses a token from another issuer', async () => {
      await refusedAndNothingStored(await stepToken(world, pipeline, PRODUCTION, { issuer: 'https://api.bitbucket.org/2.0/workspaces/evil/pipelines-config/identity/oidc' }), /not issued by this workspace/);
    });

    it("refuses a token for another workspace: that workspace's own token, and one naming it", async () => {
      const other = world.host.bitbucket.addRepository({ uuid: '{99999999-9999-4999-8999-999999999999}', slug: 'elsewhere', workspace: { uuid: '{88888888-8888-4888-8888-888888888888}', slug: 'other' }, permissions: {} });
      const theirs = world.host.bitbucket.seedPipeline(other, { commit: RELEASE, ref: { type: 'tag', name: 'v1.2.0' } });
      await refusedAndNothingStored(await world.host.bitbucket.mintStepToken(other, { pipeline: theirs.uuid, environment: PRODUCTION, audience: 'countersign-deployment-gate', now: world.clock }), /signature does not verify/);
      await refusedAndNothingStored(await stepToken(world, pipeline, PRODUCTION, { claims: { workspaceUuid: '{88888888-8888-4888-8888-888888888888}' } }), /another|not the one Countersign is installed in/);
    });

    it('refuses a missing token, another scheme and text that is no JWT', async () => {
      for (const headers of [{}, { Authorization: ['Basic dXNlcjpwYXNz'] }, { authorization: ['Bearer not-a-token'] }, { Authorization: ['Bearer a.b.c', 'Bearer d.e.f'] }] as Record<string, string[]>[]) {
        const answer = await callGate(world, { headers, body: { commit: RELEASE } });
        expect(answer).toMatchObject({ status: 401, body: { allowed: false, code: 'NOT_AUTHENTICATED' } });
      }
      expect(await deploymentEvents(world)).toEqual([]);
    });

    it('reads the header whatever its case', async () => {
      const token = await stepToken(world, pipeline);
      expect(await callGate(world, { headers: { AUTHORIZATION: [`bearer ${token}`] }, body: { commit: RELEASE } })).toMatchObject({ status: 403, body: { code: 'APPROVALS_MISSING' } });
    });

    it("accepts a token signed with a key Bitbucket rotated in after the workspace's keys were read, reading them once more", async () => {
      world.deps = { ...world.deps, pipelines: new BitbucketRest({ keyRefetchMs: 0 }) };
      const reads = () => world.host.calls.bitbucket.filter((c) => c.endsWith('/keys.json')).length;
      expect((await gate()).status).toBe(403);
      expect((await gate()).status).toBe(403);
      expect(reads()).toBe(1);
      world.host.bitbucket.rotateOidcKey(world.repo.workspace.uuid);
      expect((await gate()).body.code).toBe('APPROVALS_MISSING');
      expect(reads()).toBe(2);
    });

    it('does not read the keys again for a made-up kid within the refetch window', async () => {
      expect((await gate()).status).toBe(403);
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const forged = await new SignJWT({ workspaceUuid: world.repo.workspace.uuid }).setProtectedHeader({ alg: 'ES256', kid: 'made-up' }).sign(privateKey);
      for (let i = 0; i < 3; i++) expect((await callGate(world, { token: forged, body: { commit: RELEASE } })).status).toBe(401);
      expect(world.host.calls.bitbucket.filter((c) => c.endsWith('/keys.json'))).toHaveLength(1);
    });

    it('refuses a step that deploys nowhere, saying to call the gate from the deployment step', async () => {
      const answer = await callGate(world, { token: await stepToken(world, pipeline, '' as string), body: { commit: RELEASE } });
      expect(answer).toMatchObject({ status: 403, body: { allowed: false, code: 'NOT_A_DEPLOYMENT_STEP', message: expect.stringContaining('`deployment:` step') } });
      expect(await deploymentEvents(world)).toEqual([]);
    });
  });

  describe('the commit', () => {
    it("refuses a commit that is not the pipeline's, and stores nothing", async () => {
      await approve([PEOPLE.alice, PEOPLE.bob], world.head);
      const before = world.host.kvs.snapshot();
      const answer = await gate({ body: { commit: world.head } });
      expect(answer).toMatchObject({ status: 403, body: { allowed: false, code: 'WRONG_COMMIT', message: expect.stringContaining(`runs on commit ${RELEASE.slice(0, 7)}`) } });
      expect(world.host.kvs.snapshot()).toBe(before);
    });
  });

  describe('bad input', () => {
    const huge = JSON.stringify({ commit: RELEASE, padding: 'x'.repeat(100_000) });
    it.each([
      ['a GET', { method: 'GET' }],
      ['no body', { body: '' }],
      ['garbled JSON', { body: '{"commit":' }],
      ['JSON that is not an object', { body: 'null' }],
      ['an abbreviated commit', { body: { commit: RELEASE.slice(0, 12) } }],
      ['an upper-case commit', { body: { commit: RELEASE.toUpperCase() } }],
      ['an extra field', { body: { commit: RELEASE, environment: STAGING } }],
      ['a huge body', { body: huge }],
    ])('answers %s with 403 INVALID_INPUT given a good token, 401 without one, and stores nothing', async (_, input: { method?: string; body?: unknown }) => {
      const before = world.host.kvs.snapshot();
      const token = await stepToken(world, pipeline);
      const withToken = await callGate(world, { token, method: input.method ?? 'POST', body: input.body ?? { commit: RELEASE } });
      expect(withToken).toMatchObject({ status: 403, contentType: ['application/json'], body: { allowed: false, code: 'INVALID_INPUT' } });
      const without = await callGate(world, { method: input.method ?? 'POST', body: input.body ?? { commit: RELEASE } });
      expect(without).toMatchObject({ status: 401, body: { code: 'NOT_AUTHENTICATED' } });
      expect(world.host.kvs.snapshot()).toBe(before);
    });
  });

  describe('outages', () => {
    it('answers 503 when Bitbucket keeps failing, and allows nothing', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const token = await stepToken(world, pipeline);
      world.host.bitbucket.faults.push(...Array.from({ length: 200 }, () => ({ status: 503 })));
      const answer = await callGate(world, { token, body: { commit: RELEASE } });
      expect(answer).toMatchObject({ status: 503, body: { allowed: false, code: 'BITBUCKET_ERROR', message: expect.stringContaining('blocked') } });
      expect((await deploymentEvents(world)).filter((e) => e.type !== 'deployment.decision.accepted')).toEqual([]);
    });

    it('answers 503 when storage cannot be read, and when it cannot be written', async () => {
      await approve([PEOPLE.alice, PEOPLE.bob]);
      const token = await stepToken(world, pipeline);
      const forward = (globalThis as any).__forge_fetch__;
      (globalThis as any).__forge_fetch__ = (descriptor: any, path: string, init: RequestInit) =>
        descriptor?.type === 'kvs' ? Promise.resolve(new Response(JSON.stringify({ code: 'INTERNAL_SERVER_ERROR', message: 'down' }), { status: 500 })) : forward(descriptor, path, init);
      expect(await callGate(world, { token, body: { commit: RELEASE } })).toMatchObject({ status: 503, body: { allowed: false, code: 'STORAGE_ERROR' } });
      (globalThis as any).__forge_fetch__ = forward;
      world.host.kvs.failTransactions = 100;
      expect(await callGate(world, { token, body: { commit: RELEASE } })).toMatchObject({ status: 503, body: { allowed: false } });
      world.host.kvs.failTransactions = 0;
      expect((await deploymentEvents(world)).filter((e) => e.type !== 'deployment.decision.accepted')).toEqual([]);
    });
  });

  describe('concurrent calls for one deployment', () => {
    it('open exactly one request and one deployment.requested entry', async () => {
      world.host.latency = { kvs: 4, bitbucket: 2 };
      const tokens = await Promise.all(Array.from({ length: 10 }, () => stepToken(world, pipeline)));
      const answers = await Promise.all(tokens.map((token) => callGate(world, { token, body: { commit: RELEASE } })));
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(403));
      expect(new Set(answers.map((a) => a.body.request.id)).size).toBe(1);
      expect((await deploymentEvents(world)).filter((e) => e.type === 'deployment.requested')).toHaveLength(1);
      expect(await world.deps.deployments.listDeploymentRequests(REPOSITORY, 'pending', 10)).toHaveLength(1);
    });
  });
});
