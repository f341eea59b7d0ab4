import { readEntry, verifyLedger, type LedgerEventOf } from '../../src/core';
import { INSTALLATION_LEDGER } from '../../src/core';
import { PEOPLE, REPOSITORY, World } from '../fixtures/world';

/** Renaming a key: its owner only, the label checked as at enrolment, the change in the ledger with the record. */
describe('renameKey', () => {
  let world: World;
  beforeEach(() => (world = new World()));
  afterEach(() => world.dispose());

  async function events(ledger = REPOSITORY) {
    const entries = await world.deps.ledger.readLedger(ledger);
    const { keyId, publicJwk } = await world.deps.ledger.appPublicKey();
    return { check: await verifyLedger(entries, new Map([[keyId, publicJwk]]), ledger), events: entries.map((e) => readEntry(e)!.event as unknown as LedgerEventOf) };
  }

  it("renames the owner's key, shows the new label in settings and records the change in the ledger", async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    world.clock = new Date('2026-11-22T11:00:00.000Z');
    const renamed = await world.ok('renameKey', PEOPLE.alice, { keyId: alice.keyId, label: '  Work laptop ' });
    expect(renamed.key).toMatchObject({ keyId: alice.keyId, accountId: PEOPLE.alice, label: 'Work laptop', createdAt: '2026-11-22T10:00:00.000Z' });
    expect((await world.ok('getSettings', PEOPLE.alice)).keys).toEqual([expect.objectContaining({ keyId: alice.keyId, label: 'Work laptop' })]);

    const { check, events: all } = await events();
    expect(check).toMatchObject({ ok: true, entries: 2 });
    expect(all.map((e) => e.type)).toEqual(['key.enrolled', 'key.renamed']);
    expect(all[1]).toEqual({ type: 'key.renamed', accountId: PEOPLE.alice, keyId: alice.keyId, label: 'Work laptop', previousLabel: 'Laptop' });
  });

  it('renames only the caller’s own keys: an admin cannot rename someone else’s, and nothing is stored', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const before = world.host.kvs.snapshot();
    expect(await world.call('renameKey', PEOPLE.admin, { keyId: alice.keyId, label: 'Hijacked' })).toMatchObject({ ok: false, code: 'NOT_FOUND', message: expect.stringContaining('only your own keys') });
    // The payload names no account, and one naming one is refused outright.
    expect(await world.call('renameKey', PEOPLE.admin, { accountId: PEOPLE.alice, keyId: alice.keyId, label: 'Hijacked' })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(world.host.kvs.snapshot()).toBe(before);
    expect((await world.deps.keys.getKey(PEOPLE.alice, alice.keyId))?.label).toBe('Laptop');
  });

  it.each([
    ['an empty label', '   ', 'Give this device a label'],
    ['a label over 60 characters', 'x'.repeat(61), 'at most 60'],
    ['a label that is not text', 42, 'expected string'],
  ])('refuses %s with INVALID_INPUT and stores nothing', async (_what, label, text) => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const before = world.host.kvs.snapshot();
    expect(await world.call('renameKey', PEOPLE.alice, { keyId: alice.keyId, label })).toMatchObject({ ok: false, code: 'INVALID_INPUT', message: expect.stringContaining(text) });
    expect(world.host.kvs.snapshot()).toBe(before);
  });

  it('writes nothing when the label is unchanged', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const before = world.host.kvs.snapshot();
    expect(await world.ok('renameKey', PEOPLE.alice, { keyId: alice.keyId, label: 'Laptop' })).toMatchObject({ key: { label: 'Laptop' } });
    expect(world.host.kvs.snapshot()).toBe(before);
  });

  it('records a rename made from a repository the caller cannot see in the installation ledger', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    delete world.repo.permissions[PEOPLE.alice];
    expect(await world.call('renameKey', PEOPLE.alice, { keyId: alice.keyId, label: 'Phone' })).toMatchObject({ ok: true });
    expect((await events()).events.map((e) => e.type)).toEqual(['key.enrolled']);
    expect((await events(INSTALLATION_LEDGER)).events.map((e) => e.type)).toEqual(['key.renamed']);
  });

  it('keeps both of two concurrent renames in the ledger, each naming the label it replaced', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const [a, b] = await Promise.all([
      world.call('renameKey', PEOPLE.alice, { keyId: alice.keyId, label: 'One' }),
      world.call('renameKey', PEOPLE.alice, { keyId: alice.keyId, label: 'Two' }),
    ]);
    expect([a.ok, b.ok]).toEqual([true, true]);
    const renames = (await events()).events.filter((e): e is Extract<LedgerEventOf, { type: 'key.renamed' }> => e.type === 'key.renamed');
    expect(renames).toHaveLength(2);
    const final = (await world.deps.keys.getKey(PEOPLE.alice, alice.keyId))!.label;
    // A chain: Laptop → first → second, and the record holds the second.
    expect(renames[0]!.previousLabel).toBe('Laptop');
    expect(renames[1]!.previousLabel).toBe(renames[0]!.label);
    expect(final).toBe(renames[1]!.label);
  });
});
