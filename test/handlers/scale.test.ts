import { CHALLENGE_RETENTION_SECONDS, factsOf } from '../../src/core';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { aRule, aSigner, PEOPLE, REPOSITORY, signStatement, statementOf, WORKSPACE, World } from '../fixtures/world';

jest.setTimeout(180_000);

/** Limits the v1 storage hit: about 278 approvals on one pull request, about 1,100 revocations in all. */
describe('storage at scale', () => {
  let world: World;
  beforeEach(() => (world = new World()));
  afterEach(() => world.dispose());

  it('counts 5,000 signers on one pull request, read in one round of concurrent KVS batches', async () => {
    const members = Array.from({ length: 5000 }, (_, i) => `557058:scale-${i}`);
    const patterns = ['main', 'mai*', 'ma*', 'm*', '*'];
    const rules = patterns.map((branchPattern, r) =>
      aRule({
        branchPattern,
        requirements: Array.from({ length: 10 }, (_, g) => {
          const group = members.slice((r * 10 + g) * 100, (r * 10 + g + 1) * 100);
          return { group: `G${r}-${g}`, members: group, count: 100 };
        }),
      }),
    );
    const policy = await world.savePolicy(rules);
    const now = world.clock;
    const challengeFor = (accountId: string, value: string) => ({
      value,
      claim: { accountId, workspace: WORKSPACE, repository: REPOSITORY, pullRequest: 1, now },
      ttlSeconds: CHALLENGE_RETENTION_SECONDS,
    });
    for (const [i, accountId] of members.entries()) {
      const signer = await aSigner(accountId);
      const value = `c${String(i).padStart(42, '0')}`;
      const expiresAt = new Date(now.getTime() + 600_000).toISOString();
      await world.deps.challenges.issueChallenge(value, { accountId, workspace: WORKSPACE, repository: REPOSITORY, pullRequest: 1, expiresAt, consumed: false }, 700);
      const statement = statementOf({
        workspace: WORKSPACE,
        repository: REPOSITORY,
        pullRequest: 1,
        commit: world.head,
        targetBranch: 'main',
        decision: 'approve',
        policy: policy.hash,
        signer: accountId,
        keyId: signer.keyId,
        issuedAt: now.toISOString(),
        challenge: value,
      });
      const { subject, decision, keyId, issuedAt } = factsOf(statement);
      const outcome = await world.deps.gate.recordDecision({
        repository: REPOSITORY,
        pullRequest: 1,
        signer: accountId,
        record: { decision, commit: subject.commit, targetBranch: subject.targetBranch, policy: policy.hash, keyId, issuedAt },
        event: { type: 'decision.accepted', subject, signer: accountId, keyId, decision, publicKey: signer.publicKey, envelope: await signStatement(signer, statement) },
        at: now.toISOString(),
        challenge: challengeFor(accountId, value),
      });
      expect(outcome).toEqual({ consumed: true });
    }

    world.host.resetCalls();
    world.host.latencyMs = 20;
    const started = performance.now();
    const merge = await world.mergeCheck();
    const elapsed = performance.now() - started;
    expect(merge.success).toBe(true);
    expect(world.host.calls.kvs.every((path) => path === '/api/v1/batch/get')).toBe(true);
    expect(world.host.calls.kvs).toHaveLength(1);
    // One round trip of storage (20 ms) and one of Bitbucket, not one per page or per signer.
    expect(elapsed).toBeLessThan(20 * 2 + 3000);
    const largest = Math.max(
      ...Array.from({ length: 20 }, (_, b) => Buffer.byteLength(JSON.stringify(world.host.kvs.peek(storageKeys.approvalBucket(REPOSITORY, 1, b), DOCUMENT_ENTITY) ?? {}))),
    );
    expect(largest).toBeLessThan(240 * 1024);
  });

  it('accepts 10,000 revocations, and the merge check still sees each one', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    for (let i = 0; i < 10_000; i++) {
      await world.deps.keys.revokeKey({ keyId: alice.keyId.slice(0, -6) + String(i).padStart(6, '0'), accountId: `557058:gone-${i % 97}`, revokedAt: world.clock.toISOString(), revokedBy: PEOPLE.admin }, REPOSITORY);
    }
    await world.savePolicy([aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice], count: 1 }] })]);
    expect(await world.sign(alice)).toMatchObject({ ok: true });
    expect((await world.mergeCheck()).success).toBe(true);
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    expect((await world.mergeCheck()).success).toBe(false);
    const gate = await world.deps.gate.loadGate(REPOSITORY, 1);
    expect(gate.revokedKeys.has(`557058:gone-5 ${alice.keyId.slice(0, -6)}000005`)).toBe(true);
    expect(gate.revokedKeys.has(`557058:gone-6 ${alice.keyId.slice(0, -6)}000005`)).toBe(false);
  });

  it('consumes no challenge when the approval cannot be stored', async () => {
    await world.savePolicy([aRule()]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const bucketKey = storageKeys.approvalBucket(REPOSITORY, 1, storageKeys.approvalBucketOf(PEOPLE.alice));
    expect(await world.sign(alice)).toMatchObject({ ok: true });
    world.host.kvs.tamper(bucketKey, (doc) => ({ ...doc, document: { ...doc.document, padding: 'x'.repeat(241 * 1024) } }), DOCUMENT_ENTITY);
    const statement = await world.statementFor(alice, 'reject');
    const before = world.host.kvs.snapshot();
    const result = await world.submit(alice, statement);
    expect(result).toMatchObject({ ok: false, code: 'LIMIT_REACHED' });
    expect(world.host.kvs.snapshot()).toBe(before);
  });
});
