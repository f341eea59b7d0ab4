import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { KvsStore } from '../../src/adapters/kvsStore';
import { readEntry, sealOf } from '../../src/core';
import { aRule, aSigner, PEOPLE, REPOSITORY, World } from '../fixtures/world';

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
    await world.seedApprovals(members, policy.hash);

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
    const statement = await world.statementFor(alice);
    const before = world.host.kvs.snapshot();
    world.host.kvs.failTransactions = 1;
    expect(await world.submit(alice, statement)).toMatchObject({ ok: false, code: 'STORAGE_ERROR' });
    expect(world.host.kvs.snapshot()).toBe(before);
    // The same signature goes through once storage answers again: its challenge was not spent.
    expect(await world.submit(alice, statement)).toMatchObject({ ok: true });
  });

  it('never refuses a revocation for size: a full index page spills into overflow pages, still seen and still sealed', async () => {
    const store = new KvsStore({ pageCapacity: 5 });
    const ids = Array.from({ length: 40 }, (_, i) => ({ accountId: `557058:spill-${i}`, keyId: `${'k'.repeat(37)}${String(i).padStart(6, '0')}` }));
    for (const { accountId, keyId } of ids) {
      await store.revokeKey({ accountId, keyId, revokedAt: world.clock.toISOString(), revokedBy: PEOPLE.admin }, REPOSITORY);
    }
    const pages = [0, 1, 2].map((shard) => (world.host.kvs.peek(storageKeys.revokedShard(shard), DOCUMENT_ENTITY) as any)?.document.pages ?? 0);
    expect(pages.reduce((a, b) => a + b, 0)).toBeGreaterThan(3);
    const gate = await store.loadGate(REPOSITORY, 1);
    for (const { accountId, keyId } of ids) expect(gate.revokedKeys.has(`${accountId} ${keyId}`)).toBe(true);
    expect(gate.revokedKeys.has(`557058:spill-99 ${'k'.repeat(43)}`)).toBe(false);

    const shard = pages.findIndex((p) => p > 0);
    world.host.kvs.tamper(storageKeys.revokedShard(shard, 1), (doc) => ({ ...doc, document: { entries: '' } }), DOCUMENT_ENTITY);
    await expect(store.loadGate(REPOSITORY, 1)).rejects.toThrow('revocation index was changed');
  });

  it('reads index pages written in the earlier layout (an object key an entry), and packs them at their next write', async () => {
    const store = new KvsStore();
    const revoke = (i: number) =>
      store.revokeKey({ accountId: `557058:old-${i}`, keyId: `${'k'.repeat(37)}${String(i).padStart(6, '0')}`, revokedAt: world.clock.toISOString(), revokedBy: PEOPLE.admin }, REPOSITORY);
    for (let i = 0; i < 12; i++) await revoke(i);
    // Rewritten as an earlier version wrote them, sealed as the app seals them.
    const { seal } = await store.appSecrets();
    for (const shard of [0, 1, 2]) {
      const key = storageKeys.revokedShard(shard);
      const doc = world.host.kvs.peek(key, DOCUMENT_ENTITY) as { version: number; document: { entries: string } } | undefined;
      if (!doc) continue;
      const entries = Object.fromEntries((doc.document.entries.match(/.{16}/g) ?? []).map((entry) => [entry, 1]));
      const document = { ...doc.document, entries };
      world.host.kvs.plant(key, { version: doc.version, document, seal: await sealOf(seal, key, { version: doc.version, document }) }, DOCUMENT_ENTITY);
    }
    const seen = async (i: number) => (await store.loadGate(REPOSITORY, 1)).revokedKeys.has(`557058:old-${i} ${'k'.repeat(37)}${String(i).padStart(6, '0')}`);
    for (let i = 0; i < 12; i++) expect(await seen(i)).toBe(true);
    expect(await seen(99)).toBe(false);

    for (let i = 12; i < 24; i++) await revoke(i);
    for (let i = 0; i < 24; i++) expect(await seen(i)).toBe(true);
    const layouts = [0, 1, 2].map((shard) => typeof (world.host.kvs.peek(storageKeys.revokedShard(shard), DOCUMENT_ENTITY) as any)?.document.entries);
    expect(layouts).toEqual(['string', 'string', 'string']);
  });

  it('moves the revocation list of version 1 into the index before accepting a signature', async () => {
    const alice = await aSigner(PEOPLE.alice);
    world.host.kvs.plant('revocations', { version: 1, document: [{ keyId: alice.keyId, accountId: PEOPLE.alice, revokedAt: world.clock.toISOString(), revokedBy: PEOPLE.alice }] }, DOCUMENT_ENTITY);
    await world.savePolicy([aRule()]);
    await world.ok('enrollKey', PEOPLE.alice, { publicKey: alice.publicKey, label: 'Old laptop' });
    const statement = await world.statementFor(alice);
    expect(await world.submit(alice, statement)).toMatchObject({ ok: false, code: 'KEY_REVOKED' });
    expect(world.host.kvs.peek('revocations', DOCUMENT_ENTITY)).toBeUndefined();
    const ledger = await world.deps.ledger.readLedger('installation');
    expect(ledger.map((e) => readEntry(e)!.event)).toEqual([expect.objectContaining({ type: 'key.revoked', accountId: PEOPLE.alice, keyId: alice.keyId, scope: 'everywhere' })]);
  });
});
