import { aRule, PEOPLE, World } from '../fixtures/world';

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
    expect(latest()?.state).toBe('SUCCESSFUL');
  });
  afterEach(() => world.dispose());

  it('is re-evaluated when a key that counted is revoked', async () => {
    const alice = (await world.ok('getSettings', PEOPLE.alice)).keys[0];
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    expect((await world.mergeCheck()).success).toBe(false);
    expect(latest()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });
  });

  it('is re-evaluated when a policy save raises the quorum', async () => {
    await world.savePolicy([aRule({ commitStatus: true, requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.dave], count: 3 }] })]);
    expect((await world.mergeCheck()).success).toBe(false);
    expect(latest()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('2 of 3') });
  });

  it('is withdrawn when the policy stops asking for it', async () => {
    await world.savePolicy([aRule({ commitStatus: false, requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.dave], count: 3 }] })]);
    expect(latest()).toMatchObject({ state: 'STOPPED' });
  });
});
