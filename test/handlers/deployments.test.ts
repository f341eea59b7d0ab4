import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { deploymentId, readEntry, type DeploymentAllowance } from '../../src/core';
import { SHOWN_PENDING, SHOWN_RECENT } from '../../src/handlers/deployments';
import { PEOPLE, REPOSITORY, WORKSPACE, World, commitHash, type Signer } from '../fixtures/world';
import { aProductionPolicy, deploymentsPage, openRequest, pageContext, PIPELINE, PRODUCTION, saveEnvironments, signPending, STAGING } from '../fixtures/deploymentRequests';

describe('the deployments page', () => {
  let world: World;
  let alice: Signer;
  let bob: Signer;

  beforeEach(async () => {
    world = new World();
    await world.savePolicy([]);
    await saveEnvironments(world, [aProductionPolicy(), aProductionPolicy({ environment: STAGING, name: 'Staging', requirements: [{ group: 'Ops', members: [PEOPLE.bob], count: 1 }] })]);
    alice = await world.enrolledSigner(PEOPLE.alice);
    bob = await world.enrolledSigner(PEOPLE.bob);
  });
  afterEach(() => world.dispose());

  describe('getDeployments', () => {
    it('lists a pending request with its verdict, the facts people recognise it by, and the environments', async () => {
      const request = await openRequest(world);
      const page = await deploymentsPage(world, PEOPLE.alice);
      expect(page.environments).toEqual([
        { uuid: PRODUCTION, name: 'Production' },
        { uuid: STAGING, name: 'Staging' },
      ]);
      expect(page.recent).toEqual([]);
      expect(page.pending).toHaveLength(1);
      const [view] = page.pending;
      expect(view).toMatchObject({
        id: request.id,
        environment: { uuid: PRODUCTION, name: 'Production' },
        commit: request.commit,
        shortCommit: request.commit.slice(0, 7),
        ref: { type: 'tag', name: 'v1.0.0' },
        buildNumber: 42,
        commitAuthor: PEOPLE.author,
        pipelineStarter: PEOPLE.carol,
        merger: PEOPLE.dave,
        state: 'pending',
      });
      expect(view!.verdict).toMatchObject({ gated: true, pass: false, missing: ['Release managers: 0 of 2 signed.'] });
      expect(view!.me).toMatchObject({ eligibility: 'eligible', decision: null, challenge: { value: expect.any(String) } });
    });

    it.each([
      ['the commit author', 'author', 'commit-author'],
      ['the merger of its pull request', 'dave', 'merger'],
      ['whoever started the pipeline', 'carol', 'pipeline-starter'],
      ['someone in no group for the environment', 'outsider', 'not-eligible'],
    ] as const)('tells %s why they cannot sign, and issues them no challenge', async (_who, person, eligibility) => {
      await openRequest(world);
      const page = await deploymentsPage(world, PEOPLE[person]);
      expect(page.pending[0]!.me).toEqual({ eligibility, decision: null, challenge: null });
    });

    it('shows nothing to someone Bitbucket gives no access to the repository', async () => {
      await openRequest(world);
      world.host.bitbucket.addUser({ accountId: '557058:0099-stranger', displayName: 'stranger', uuid: '{99999999-9999-4999-8999-999999999999}' });
      const before = world.host.kvs.snapshot();
      const result = await world.call('getDeployments', '557058:0099-stranger', undefined, pageContext(world, '557058:0099-stranger'));
      expect(result).toMatchObject({ ok: false, code: 'FORBIDDEN' });
      // No challenge was issued to them either.
      expect(world.host.kvs.snapshot()).toBe(before);
    });

    it('counts an approval, names the signer, and passes at 2 of 2', async () => {
      await openRequest(world);
      const first = await signPending(world, alice);
      expect(first).toMatchObject({ ok: true, data: { verdict: { pass: false, approvedBy: [PEOPLE.alice], missing: ['Release managers: 1 of 2 signed.'] } } });
      expect((await deploymentsPage(world, PEOPLE.alice)).pending[0]!.me.decision).toMatchObject({ decision: 'approve', problem: null });
      const second = await signPending(world, bob);
      expect(second).toMatchObject({ ok: true, data: { verdict: { pass: true, missing: [] } } });
      const page = await deploymentsPage(world, PEOPLE.carol);
      expect(page.pending[0]!.verdict.requirements[0]).toMatchObject({ group: 'Release managers', required: 2, met: true });
      expect(page.pending[0]!.verdict.requirements[0]!.counted.sort()).toEqual([PEOPLE.alice, PEOPLE.bob].sort());
      expect(page.pending[0]!.verdict.names).toMatchObject({ [PEOPLE.alice]: 'alice', [PEOPLE.bob]: 'bob' });
    });

    it('records the accepted decision in the ledger with the envelope as received and the key it verified against', async () => {
      await openRequest(world);
      expect(await signPending(world, alice)).toMatchObject({ ok: true });
      const ledger = await world.deps.ledger.readLedger(REPOSITORY);
      const event = readEntry(ledger.at(-1)!)!.event;
      expect(event).toMatchObject({ type: 'deployment.decision.accepted', signer: PEOPLE.alice, keyId: alice.keyId, decision: 'approve', publicKey: alice.publicKey, subject: { kind: 'deployment', environment: PRODUCTION, workspace: WORKSPACE } });
    });

    it('still shows a request waiting since before many newer ones were allowed', async () => {
      const oldest = await openRequest(world, { commit: commitHash('waiting-long') });
      for (let i = 0; i < 25; i++) {
        world.clock = new Date(world.clock.getTime() + 60_000);
        const request = await openRequest(world, { commit: commitHash(`n${i}`) });
        await allow(world, request.id, request.commit);
      }
      const page = await deploymentsPage(world, PEOPLE.alice);
      expect(page.pending.map((v) => v.id)).toEqual([oldest.id]);
      expect(page.truncated).toBe(false);
      expect(page.recent[0]!.commit).toBe(commitHash('n24'));
    });

    it('lists the most recently allowed first, whenever they were requested', async () => {
      const early = await openRequest(world, { commit: commitHash('requested-first') });
      world.clock = new Date(world.clock.getTime() + 60_000);
      const late = await openRequest(world, { commit: commitHash('requested-second') });
      world.clock = new Date(world.clock.getTime() + 60_000);
      await allow(world, late.id, late.commit);
      world.clock = new Date(world.clock.getTime() + 60_000);
      await allow(world, early.id, early.commit);
      const page = await deploymentsPage(world, PEOPLE.alice);
      expect(page.recent.map((v) => v.commit)).toEqual([early.commit, late.commit]);
      expect(Date.parse(page.recent[0]!.allowedAt!)).toBeGreaterThan(Date.parse(page.recent[1]!.allowedAt!));
    });

    it('skips a listed request whose sealed request is missing: nothing rendered from the unsealed copy, no challenge issued', async () => {
      const kept = await openRequest(world, { commit: commitHash('kept') });
      const lost = await openRequest(world, { commit: commitHash('lost') });
      world.host.kvs.drop(storageKeys.deploymentRequest(REPOSITORY, lost.id), DOCUMENT_ENTITY);
      world.host.resetCalls();
      const page = await deploymentsPage(world, PEOPLE.alice);
      expect(page.pending.map((v) => v.id)).toEqual([kept.id]);
      // One challenge, for the request still sealed.
      expect(world.host.calls.kvs.filter((c) => c.endsWith('/entity/set'))).toHaveLength(1);
    });

    it(`shows at most ${SHOWN_PENDING} pending and ${SHOWN_RECENT} allowed requests, at a storage cost that does not grow with history`, async () => {
      for (let i = 0; i < 30; i++) {
        world.clock = new Date(world.clock.getTime() + 60_000);
        const request = await openRequest(world, { commit: commitHash(`r${i}`) });
        if (i % 2 === 0) await allow(world, request.id, request.commit);
      }
      world.host.resetCalls();
      const page = await deploymentsPage(world, PEOPLE.alice);
      expect(page.pending).toHaveLength(SHOWN_PENDING);
      expect(page.recent).toHaveLength(SHOWN_RECENT);
      expect(page.truncated).toBe(true);
      // Newest first: pending are r29, r27, …; allowed r28, r26, ….
      expect(page.pending.map((v) => v.commit)).toEqual(Array.from({ length: SHOWN_PENDING }, (_, i) => commitHash(`r${29 - 2 * i}`)));
      expect(page.recent.map((v) => v.commit)).toEqual(Array.from({ length: SHOWN_RECENT }, (_, i) => commitHash(`r${28 - 2 * i}`)));
      expect(page.recent[0]!.allowedAt).not.toBeNull();
      // A listing query per state and her key list (a query); one batch per shown request (policy, request,
      // merge index, 8 buckets and the revocation index); one challenge written per pending request she may sign.
      expect(world.host.calls.kvs.filter((c) => c.endsWith('/query'))).toHaveLength(3);
      expect(world.host.calls.kvs.filter((c) => c.endsWith('/batch/get'))).toHaveLength(SHOWN_PENDING + SHOWN_RECENT);
      expect(world.host.calls.kvs.filter((c) => c.endsWith('/entity/set'))).toHaveLength(SHOWN_PENDING);
      expect(world.host.calls.kvs).toHaveLength(3 + SHOWN_PENDING + SHOWN_RECENT + SHOWN_PENDING);
      expect(world.host.calls.bitbucket).toHaveLength(1);
    });
  });
});

async function allow(world: World, id: string, commit: string): Promise<void> {
  const verdict: DeploymentAllowance = { gated: true, message: 'allowed', policy: null, facts: { environment: { uuid: PRODUCTION }, commit }, counted: [] };
  const subject = { kind: 'deployment' as const, workspace: WORKSPACE, repository: REPOSITORY, environment: PRODUCTION, commit };
  expect(id).toBe(deploymentId({ environment: PRODUCTION, commit }));
  await world.deps.deployments.recordDeploymentAllowed(REPOSITORY, id, PIPELINE, world.clock.toISOString(), { type: 'deployment.allowed', subject, pipeline: PIPELINE, verdict });
}
