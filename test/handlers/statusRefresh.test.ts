import { aRule, commitHash, PEOPLE, signStatement, statementOf, WORKSPACE, World } from '../fixtures/world';

/** The commit status never says SUCCESSFUL while the merge check says no. */
describe('commit status after changes that move the verdict without a push', () => {
  let world: World;
  const latest = () => world.repo.statuses.filter((s) => s.commit === world.head && s.key === 'countersign').at(-1);

  beforeEach(async () => {
    world = new World();
    await world.savePolicy([aRule({ commitStatus: true })]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const bob = await world.enrolledSigner(PEOPLE.bob);
    expect(await world.sign(alice)).toMatchObject({ ok: true });
    expect(await world.sign(bob)).toMatchObject({ ok: true });
    await world.settle();
    expect(latest()?.state).toBe('SUCCESSFUL');
  });
  afterEach(() => world.dispose());

  it('is re-evaluated when a key that counted is revoked', async () => {
    const alice = (await world.ok('getSettings', PEOPLE.alice)).keys[0];
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    await world.settle();
    expect((await world.mergeCheck()).success).toBe(false);
    expect(latest()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });
  });

  it('is re-evaluated when a policy save raises the quorum', async () => {
    await world.savePolicy([aRule({ commitStatus: true, requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.dave], count: 3 }] })]);
    await world.settle();
    expect((await world.mergeCheck()).success).toBe(false);
    expect(latest()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('2 of 3') });
  });

  it('is withdrawn when the policy stops asking for it', async () => {
    await world.savePolicy([aRule({ commitStatus: false, requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.dave], count: 3 }] })]);
    await world.settle();
    expect(latest()).toMatchObject({ state: 'STOPPED' });
  });
});

describe('commit status after a revocation everywhere', () => {
  it('is re-evaluated in every repository that reports one, not only where the key was revoked', async () => {
    const world = new World();
    try {
      const second = '{77777777-7777-4777-8777-777777777777}';
      const repo2 = world.host.bitbucket.addRepository({
        uuid: second,
        slug: 'ledger',
        workspace: { uuid: WORKSPACE, slug: 'acme' },
        permissions: { [PEOPLE.admin]: 'admin', [PEOPLE.alice]: 'write', [PEOPLE.bob]: 'write', [PEOPLE.author]: 'write' },
      });
      world.host.bitbucket.addPullRequest(repo2, {
        id: 1,
        title: 'Other work',
        author: PEOPLE.author,
        sourceBranch: 'feature/other',
        targetBranch: 'main',
        state: 'OPEN',
        reviewers: [PEOPLE.alice, PEOPLE.bob],
        commits: [{ hash: commitHash('other-1'), author: PEOPLE.author, message: 'Other' }],
      });
      const rule = aRule({ commitStatus: true, requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob], count: 2 }] });
      await world.savePolicy([rule]);
      expect(await world.call('saveSettings', PEOPLE.admin, { baseVersion: 0, rules: [rule] }, world.context(PEOPLE.admin, 1, second))).toMatchObject({ ok: true });

      const alice = await world.enrolledSigner(PEOPLE.alice);
      const bob = await world.enrolledSigner(PEOPLE.bob);
      for (const signer of [alice, bob]) {
        expect(await world.sign(signer)).toMatchObject({ ok: true });
        const panel = (await world.call<any>('getPanelState', signer.accountId, undefined, world.context(signer.accountId, 1, second))) as any;
        const statement = statementOf({
          workspace: WORKSPACE, repository: second, pullRequest: 1, commit: panel.data.pullRequest.headCommit, targetBranch: 'main', decision: 'approve',
          policy: panel.data.policy.hash, signer: signer.accountId, keyId: signer.keyId, issuedAt: world.clock.toISOString(), challenge: panel.data.challenge.value,
        });
        expect(await world.call('submitDecision', signer.accountId, { envelope: await signStatement(signer, statement) }, world.context(signer.accountId, 1, second))).toMatchObject({ ok: true });
      }
      const latestIn = (repo: typeof repo2) => repo.statuses.filter((s) => s.key === 'countersign').at(-1);
      await world.settle();
      expect(latestIn(repo2)?.state).toBe('SUCCESSFUL');

      expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
      await world.settle();
      expect(latestIn(world.repo)?.state).toBe('INPROGRESS');
      expect(latestIn(repo2)).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });

      // Once the other repository stops asking for a status, a later revocation leaves it alone.
      const quiet = { ...rule, commitStatus: false };
      expect(await world.call('saveSettings', PEOPLE.admin, { baseVersion: 1, rules: [quiet] }, world.context(PEOPLE.admin, 1, second))).toMatchObject({ ok: true });
      await world.settle();
      const posted = repo2.statuses.length;
      expect(await world.call('revokeKey', PEOPLE.bob, { keyId: bob.keyId })).toMatchObject({ ok: true });
      await world.settle();
      expect(repo2.statuses).toHaveLength(posted);
      expect(latestIn(world.repo)?.state).toBe('INPROGRESS');
    } finally {
      world.dispose();
    }
  });
});
