import { KvsStore } from '../../src/adapters/kvsStore';
import { readEntry } from '../../src/core';
import { aRule, aSigner, PEOPLE, REPOSITORY, WORKSPACE, World, type Signer } from '../fixtures/world';

describe('concurrency', () => {
  let world: World;
  afterEach(() => world.dispose());

  it('stores all 20 signatures when 20 signers submit at once', async () => {
    world = new World();
    const members = Array.from({ length: 20 }, (_, i) => `557058:signer-${String(i).padStart(2, '0')}`);
    for (const id of members) world.addReviewer(id, `Signer ${id.slice(-2)}`);
    await world.savePolicy([aRule({ requirements: [{ group: 'Reviewers', members, count: 20 }] })]);
    const signers: Signer[] = await Promise.all(members.map((id) => world.enrolledSigner(id)));
    const statements = await Promise.all(signers.map((s) => world.statementFor(s)));
    world.host.latencyMs = 4;

    const results = await Promise.all(signers.map((s, i) => world.submit(s, statements[i]!)));

    expect(results.filter((r) => !r.ok)).toEqual([]);
    const merge = await world.mergeCheck();
    expect(merge.message).toContain('Reviewers 20 of 20 signed');
    expect(merge.success).toBe(true);
  });

  it('lets exactly one of two consumers of the same challenge win', async () => {
    world = new World();
    await world.savePolicy([aRule()]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const statement = await world.statementFor(alice);
    world.host.latencyMs = 4;

    const results = await Promise.all([world.submit(alice, statement), world.submit(alice, statement)]);

    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual([expect.objectContaining({ code: 'CHALLENGE_USED' })]);
  });

  it('races ten consumers of one challenge at the store: exactly one consumes it', async () => {
    world = new World();
    const store = new KvsStore();
    const claim = { accountId: PEOPLE.alice, workspace: WORKSPACE, repository: REPOSITORY, pullRequest: 1, now: world.clock };
    const expiresAt = new Date(world.clock.getTime() + 60_000).toISOString();
    const { now: _now, ...scope } = claim;
    await store.issueChallenge('c'.repeat(43), { ...scope, expiresAt, consumed: false }, 600);
    world.host.latencyMs = 2;
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.consumeChallenge('c'.repeat(43), claim, 600)));
    expect(outcomes.filter((o) => o.consumed)).toHaveLength(1);
  });

  it('loses no revocation when two are made at once', async () => {
    world = new World();
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const bob = await world.enrolledSigner(PEOPLE.bob);
    world.host.latencyMs = 4;
    const results = await Promise.all([
      world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId }),
      world.call('revokeKey', PEOPLE.bob, { keyId: bob.keyId }),
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
    const revoked = (await new KvsStore().loadRevocations([alice, bob])).map((r) => r.keyId).sort();
    expect(revoked).toEqual([alice.keyId, bob.keyId].sort());
  });

  it('lets only one of two admins saving from the same version win', async () => {
    world = new World();
    world.host.bitbucket.repositories[0]!.permissions[PEOPLE.carol] = 'admin';
    world.host.latencyMs = 4;
    const [first, second] = await Promise.all([
      world.call('saveSettings', PEOPLE.admin, { baseVersion: 0, rules: [aRule()] }),
      world.call('saveSettings', PEOPLE.carol, { baseVersion: 0, rules: [aRule({ branchPattern: 'release/*' })] }),
    ]);
    expect([first.ok, second.ok].sort()).toEqual([false, true]);
    expect([first, second].find((r) => !r.ok)).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('Someone else saved this policy') });
  });
});

describe('one key enrolled twice at once', () => {
  it('is stored once, with one ledger entry, and neither request overwrites the other', async () => {
    const world = new World();
    try {
      const signer = await aSigner(PEOPLE.alice);
      world.host.latencyMs = 4;
      const results = await Promise.all(['Laptop', 'Phone'].map((label) => world.call('enrollKey', PEOPLE.alice, { publicKey: signer.publicKey, label })));
      world.host.latencyMs = 0;
      expect(results.filter((r) => r.ok)).not.toHaveLength(0);
      for (const r of results) if (!r.ok) expect(r).toMatchObject({ code: 'CONFLICT' });
      const stored = await world.deps.keys.getKey(PEOPLE.alice, signer.keyId);
      for (const r of results) if (r.ok) expect((r.data as any).key).toEqual(stored);
      const entries = await world.deps.ledger.readLedger(REPOSITORY);
      expect(entries.map((e) => readEntry(e)!.event.type)).toEqual(['key.enrolled']);
    } finally {
      world.dispose();
    }
  });
});
