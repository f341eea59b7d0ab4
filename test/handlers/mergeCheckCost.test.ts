import { aRule, World } from '../fixtures/world';

/** The merge check's I/O does not grow with approvals: one storage batch and the two concurrent Bitbucket reads. */
describe('merge check cost', () => {
  it.each([1, 10, 100])('makes 1 storage call and 2 Bitbucket calls with %i approvals', async (count) => {
    const world = new World();
    try {
      const members = Array.from({ length: count }, (_, i) => `557058:cost-${i}`);
      members.forEach((accountId, i) =>
        world.addReviewer(accountId, `R${i}`),
      );
      await world.savePolicy([aRule({ requirements: [{ group: 'Reviewers', members, count }] })]);
      for (const member of members) expect(await world.sign(await world.enrolledSigner(member))).toMatchObject({ ok: true });
      world.host.resetCalls();
      expect(await world.mergeCheck()).toMatchObject({ success: true });
      expect(world.host.calls.kvs).toEqual(['/api/v1/batch/get']);
      expect(world.host.calls.bitbucket).toHaveLength(2);
    } finally {
      world.dispose();
    }
  });
});
