import { encodeBase64, deploymentStatementPayload } from '../../src/core';
import type { DeploymentsPage, DeploymentView } from '../../src/handlers/deployments';
import { aRule, aSigner, commitHash, PEOPLE, signStatement, statementOf, World, WORKSPACE, REPOSITORY, type Signer } from '../fixtures/world';
import {
  aProductionPolicy,
  deploymentsPage,
  deploymentStatementFor,
  openRequest,
  pageContext,
  PRODUCTION,
  saveEnvironments,
  signDeployment,
  signPending,
  STAGING,
  submitDeployment,
  type DeploymentFields,
} from '../fixtures/deploymentRequests';

/**
 * Each row is an attack on a deployment approval; each test fails if its defence breaks. A refused
 * submission leaves storage exactly as it was, and the request still needs its two signatures.
 */
describe('attacks on deployment approvals', () => {
  let world: World;
  let alice: Signer;
  let bob: Signer;

  beforeEach(async () => {
    world = new World();
    await world.savePolicy([]);
    await saveEnvironments(world, [aProductionPolicy(), aProductionPolicy({ environment: STAGING, name: 'Staging' })]);
    alice = await world.enrolledSigner(PEOPLE.alice);
    bob = await world.enrolledSigner(PEOPLE.bob);
    await openRequest(world);
  });
  afterEach(() => world.dispose());

  /** The page as `accountId` sees it, and on it the production request for `commit`. */
  async function view(accountId: string, commit = commitHash('release-1')): Promise<{ page: DeploymentsPage; view: DeploymentView }> {
    const page = await deploymentsPage(world, accountId);
    return { page, view: [...page.pending, ...page.recent].find((v) => v.environment.uuid === PRODUCTION && v.commit === commit)! };
  }

  async function expectRefused(attempt: () => Promise<{ ok: boolean; code?: string }>, code: string, counted: string[] = []) {
    const before = world.host.kvs.snapshot();
    expect(await attempt()).toMatchObject({ ok: false, code });
    expect(world.host.kvs.snapshot()).toBe(before);
    expect((await view(PEOPLE.admin)).view.verdict.approvedBy).toEqual(counted);
  }

  /** Alice reads the page, builds her statement with `overrides`, signs it with `key` and submits it as `as` for the production request. */
  async function attempt(overrides: Partial<DeploymentFields> = {}, { key = alice, as = PEOPLE.alice as string, signer = alice }: { key?: Signer; as?: string; signer?: Signer } = {}) {
    const { page, view: v } = await view(signer.accountId);
    const envelope = await signDeployment(key, deploymentStatementFor(world, page, v, signer, overrides));
    return () => submitDeployment(world, as, envelope, { environment: PRODUCTION, commit: v.commit });
  }

  it('accepts the honest submission the attacks start from', async () => {
    expect(await (await attempt())()).toMatchObject({ ok: true, data: { verdict: { approvedBy: [PEOPLE.alice] } } });
  });

  it('refuses a forged signature (made with a key that is not the enrolled one)', async () => {
    await expectRefused(await attempt({}, { key: await aSigner(PEOPLE.alice) }), 'BAD_SIGNATURE');
  });

  it('refuses a signature over other bytes than the statement submitted', async () => {
    const { page, view: v } = await view(PEOPLE.alice);
    const signed = await signDeployment(alice, deploymentStatementFor(world, page, v, alice, { decision: 'reject' }));
    const swapped = { ...signed, payload: encodeBase64(deploymentStatementPayload(deploymentStatementFor(world, page, v, alice))) };
    await expectRefused(() => submitDeployment(world, PEOPLE.alice, swapped, { environment: PRODUCTION, commit: v.commit }), 'BAD_SIGNATURE');
  });

  it('refuses a replayed envelope', async () => {
    const submit = await attempt();
    expect(await submit()).toMatchObject({ ok: true });
    await expectRefused(submit, 'CHALLENGE_USED', [PEOPLE.alice]);
  });

  it('refuses a fresh statement on a challenge already used', async () => {
    const { page, view: v } = await view(PEOPLE.alice);
    const first = await signDeployment(alice, deploymentStatementFor(world, page, v, alice));
    expect(await submitDeployment(world, PEOPLE.alice, first, { environment: PRODUCTION, commit: v.commit })).toMatchObject({ ok: true });
    world.clock = new Date(world.clock.getTime() + 1000);
    const again = await signDeployment(alice, deploymentStatementFor(world, page, v, alice, { decision: 'reject', issuedAt: world.clock.toISOString() }));
    await expectRefused(() => submitDeployment(world, PEOPLE.alice, again, { environment: PRODUCTION, commit: v.commit }), 'CHALLENGE_USED', [PEOPLE.alice]);
  });

  it.each([
    ['another commit', { commit: commitHash('elsewhere') }, 'WRONG_COMMIT'],
    ['another environment', { environment: STAGING }, 'WRONG_ENVIRONMENT'],
    ['another repository', { repository: '{33333333-3333-4333-8333-333333333333}' }, 'WRONG_REPOSITORY'],
    ['another workspace', { workspace: '{44444444-4444-4444-8444-444444444444}' }, 'WRONG_WORKSPACE'],
    ['an earlier policy', { policy: `sha256:${'1'.repeat(64)}` }, 'POLICY_CHANGED'],
    ['a time far from the server clock', { issuedAt: '2026-11-22T09:00:00.000Z' }, 'STATEMENT_TIME'],
  ])('refuses a statement for %s', async (_what, overrides, code) => {
    await expectRefused(await attempt(overrides), code);
  });

  it('refuses a statement for another commit that also waits, on the first request’s challenge', async () => {
    const other = await openRequest(world, { commit: commitHash('release-2') });
    // Alice's challenge for the first request, a statement naming the second, sent as the second.
    const { page, view: v } = await view(PEOPLE.alice);
    const envelope = await signDeployment(alice, deploymentStatementFor(world, page, v, alice, { commit: other.commit }));
    await expectRefused(() => submitDeployment(world, PEOPLE.alice, envelope, { environment: PRODUCTION, commit: other.commit }), 'CHALLENGE_INVALID');
  });

  it('refuses signing as someone else', async () => {
    // Alice's statement naming Bob as signer, with Bob's key id, signed with her key.
    await expectRefused(await attempt({ signer: PEOPLE.bob, keyId: bob.keyId }), 'WRONG_SIGNER');
    // Alice naming herself but Bob's key: it is not hers.
    await expectRefused(await attempt({ keyId: bob.keyId }, { key: bob }), 'UNKNOWN_KEY');
  });

  it('refuses a key that was never enrolled', async () => {
    const stranger = await aSigner(PEOPLE.alice);
    await expectRefused(await attempt({ keyId: stranger.keyId }, { key: stranger }), 'UNKNOWN_KEY');
  });

  it('refuses a revoked key', async () => {
    const submit = await attempt();
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    await expectRefused(submit, 'KEY_REVOKED');
  });

  it('stops counting an approval once its key is revoked', async () => {
    expect(await signPending(world, alice)).toMatchObject({ ok: true });
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    const { view: v } = await view(PEOPLE.bob);
    expect(v.verdict.approvedBy).toEqual([]);
    expect(v.verdict.requirements[0]!.notCounted).toEqual([{ accountId: PEOPLE.alice, reason: 'revoked-key' }]);
  });

  it.each([
    ['the commit author', 'author', 'COMMIT_AUTHOR'],
    ['the merger of its pull request', 'dave', 'DEPLOY_MERGER'],
    ['whoever started the pipeline', 'carol', 'DEPLOY_STARTER'],
    ['someone in no approver group', 'outsider', 'NOT_ELIGIBLE'],
  ] as const)('refuses the approval of %s, though they signed on a challenge of their own', async (_who, person, code) => {
    const signer = await world.enrolledSigner(PEOPLE[person]);
    // The page gives them no challenge; one issued as it would be for someone who may sign.
    const value = `x${person.padEnd(42, 'x')}`;
    const { view: v } = await view(signer.accountId);
    await world.deps.challenges.issueChallenge(value, { accountId: signer.accountId, workspace: WORKSPACE, repository: REPOSITORY, deployment: v.id, expiresAt: new Date(world.clock.getTime() + 600_000).toISOString(), consumed: false }, 4200);
    await expectRefused(await attempt({ challenge: value }, { key: signer, as: signer.accountId, signer }), code);
  });

  it("refuses a pull request's challenge for a deployment", async () => {
    const panel = await world.panel(PEOPLE.alice);
    await expectRefused(await attempt({ challenge: panel.challenge.value }), 'CHALLENGE_INVALID');
  });

  it("refuses a deployment's challenge for a pull request", async () => {
    await world.savePolicy([aRule()]);
    await saveEnvironments(world, [aProductionPolicy()]);
    const { view: v } = await view(PEOPLE.alice);
    const panel = await world.panel(PEOPLE.alice);
    const statement = statementOf({
      workspace: WORKSPACE,
      repository: REPOSITORY,
      pullRequest: 1,
      commit: panel.pullRequest.headCommit,
      targetBranch: 'main',
      decision: 'approve',
      policy: panel.policy!.hash,
      signer: PEOPLE.alice,
      keyId: alice.keyId,
      issuedAt: world.clock.toISOString(),
      challenge: v.me.challenge!.value,
    });
    const envelope = await signStatement(alice, statement);
    const before = world.host.kvs.snapshot();
    expect(await world.call('submitDecision', PEOPLE.alice, { envelope })).toMatchObject({ ok: false, code: 'CHALLENGE_INVALID' });
    expect(world.host.kvs.snapshot()).toBe(before);
  });

  it('refuses a signature for a deployment already allowed', async () => {
    const submit = await attempt();
    const { view: v } = await view(PEOPLE.alice);
    const subject = { kind: 'deployment' as const, workspace: WORKSPACE, repository: REPOSITORY, environment: PRODUCTION, commit: v.commit };
    await world.deps.deployments.recordDeploymentAllowed(REPOSITORY, v.id, '{bbbbbbbb-0000-4000-8000-000000000009}', world.clock.toISOString(), {
      type: 'deployment.allowed',
      subject,
      pipeline: '{bbbbbbbb-0000-4000-8000-000000000009}',
      verdict: { gated: true, message: 'allowed', policy: null, facts: { environment: { uuid: PRODUCTION }, commit: v.commit }, counted: [] },
    });
    await expectRefused(submit, 'DEPLOYMENT_NOT_PENDING');
  });

  it('refuses a statement for a deployment no pipeline asked for', async () => {
    const { page, view: v } = await view(PEOPLE.alice);
    const commit = commitHash('never-requested');
    const envelope = await signDeployment(alice, deploymentStatementFor(world, page, v, alice, { commit }));
    await expectRefused(() => submitDeployment(world, PEOPLE.alice, envelope, { environment: PRODUCTION, commit }), 'NOT_FOUND');
  });

  it('refuses a submission from someone Bitbucket gives no access to the repository', async () => {
    const submit = await attempt();
    world.repo.permissions[PEOPLE.alice] = undefined as never;
    delete world.repo.permissions[PEOPLE.alice];
    await expectRefused(submit, 'FORBIDDEN');
    expect(await world.call('getDeployments', PEOPLE.alice, undefined, pageContext(world, PEOPLE.alice))).toMatchObject({ ok: false, code: 'FORBIDDEN' });
  });
});
