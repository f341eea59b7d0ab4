import { aRule, PEOPLE, World } from '../fixtures/world';

describe('signing and merging', () => {
  let world: World;
  beforeEach(() => (world = new World()));
  afterEach(() => world.dispose());

  describe('when no policy is saved', () => {
    it('lets the pull request merge and says it is not gated', async () => {
      const result = await world.mergeCheck();
      expect(result).toEqual({ success: true, message: expect.stringContaining('not gated') });
    });
  });

  describe('when main needs 2 Maintainers', () => {
    beforeEach(async () => {
      await world.savePolicy([aRule()]);
    });

    it('blocks with "0 of 2" before anyone signs', async () => {
      const result = await world.mergeCheck();
      expect(result.success).toBe(false);
      expect(result.message).toBe(`Countersign: Maintainers 0 of 2 signed — waiting for signatures on ${world.head.slice(0, 7)}.`);
    });

    it('counts signatures until the quorum is met, then allows the merge', async () => {
      const alice = await world.enrolledSigner(PEOPLE.alice);
      const bob = await world.enrolledSigner(PEOPLE.bob);

      expect(await world.sign(alice)).toMatchObject({ ok: true });
      const halfway = await world.mergeCheck();
      expect(halfway.success).toBe(false);
      expect(halfway.message).toContain('Maintainers 1 of 2 signed (alice)');

      expect(await world.sign(bob)).toMatchObject({ ok: true });
      const done = await world.mergeCheck();
      expect(done).toEqual({ success: true, message: `Countersign: approved on ${world.head.slice(0, 7)} — Maintainers 2 of 2 signed (alice, bob).` });
    });

    it('treats every signature as stale after a new push', async () => {
      const alice = await world.enrolledSigner(PEOPLE.alice);
      const bob = await world.enrolledSigner(PEOPLE.bob);
      await world.sign(alice);
      await world.sign(bob);
      world.push('c2');

      const result = await world.mergeCheck();
      expect(result.success).toBe(false);
      expect(result.message).toContain('Maintainers 0 of 2 signed');
      expect(result.message).toContain('2 signatures are for an older commit');
      const panel = await world.panel(PEOPLE.alice);
      expect(panel.me.decision).toMatchObject({ decision: 'approve', stale: true });
      expect(panel.verdict.rules[0].requirements[0].notCounted).toEqual([
        { accountId: PEOPLE.alice, reason: 'stale' },
        { accountId: PEOPLE.bob, reason: 'stale' },
      ]);
    });

    it('blocks on a signed rejection by an eligible approver', async () => {
      const alice = await world.enrolledSigner(PEOPLE.alice);
      const bob = await world.enrolledSigner(PEOPLE.bob);
      const dave = await world.enrolledSigner(PEOPLE.dave);
      await world.sign(alice);
      await world.sign(bob);
      await world.sign(dave, 'reject');
      const result = await world.mergeCheck();
      expect(result.success).toBe(false);
      expect(result.message).toMatch(/^Countersign: blocked — rejected by dave on [0-9a-f]{7}\./);
    });

    it('gives the card everything in one call', async () => {
      await world.enrolledSigner(PEOPLE.alice);
      world.host.resetCalls();
      const panel = await world.panel(PEOPLE.alice);
      expect(panel.me.eligibility).toBe('eligible');
      expect(panel.me.keys).toHaveLength(1);
      expect(panel.challenge.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(panel.pullRequest.headCommit).toBe(world.head);
      // Gate batch (25 keys, the batch limit), key query and the pull request's re-evaluation record (its
      // auto-merge outcome) read together; then the challenge is written.
      expect(world.host.calls.kvs).toEqual(['/api/v1/batch/get', '/api/v1/query', '/api/v1/batch/get', '/api/v1/entity/set']);
      expect(world.host.calls.bitbucket).toHaveLength(2);
    });
  });
});
