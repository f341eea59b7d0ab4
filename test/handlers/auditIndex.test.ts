import fc from 'fast-check';
import { bareUuid, type LedgerEventOf } from '../../src/core';
import type { KvsStore } from '../../src/adapters/kvsStore';
import { AUDIT_INDEX_ENTITY } from '../../src/adapters/auditIndex';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { AUDIT_FILTERED_PAGE_SIZE, AUDIT_SCAN_LIMIT, describeEntry, type AuditPage } from '../../src/handlers/audit';
import { PEOPLE, REPOSITORY, World } from '../fixtures/world';
import { seedLedger } from '../fixtures/auditSeed';

type Filters = { pullRequest?: number; person?: string; type?: string; from?: string; to?: string };

const audit = (world: World, payload: Record<string, unknown>) => world.call<AuditPage>('getAuditPage', PEOPLE.outsider, payload, world.context(PEOPLE.outsider, undefined));
async function page(world: World, payload: Record<string, unknown>): Promise<AuditPage> {
  const result = await audit(world, payload);
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  return result.data;
}
/** Every page of `filters`, following cursors to the end. */
async function walk(world: World, filters: Filters): Promise<{ seqs: number[]; pages: AuditPage[] }> {
  const pages: AuditPage[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(world, { ...filters, ...(cursor ? { cursor } : {}) });
    pages.push(next);
    cursor = next.nextCursor ?? undefined;
    if (pages.length > 500) throw new Error('walk: the cursor never ends');
  } while (cursor);
  return { seqs: pages.flatMap((p) => p.entries.map((e) => e.seq)), pages };
}
/** The brute-force answer: the whole ledger, read entry by entry, filtered, newest first. */
async function bruteForce(world: World, filters: Filters): Promise<number[]> {
  const all = await world.deps.ledger.readLedger(REPOSITORY);
  return all
    .map((entry, i) => describeEntry(i + 1, entry))
    .filter((e) =>
      (filters.type === undefined || e.type === filters.type) &&
      (filters.pullRequest === undefined || e.pullRequest === filters.pullRequest) &&
      (filters.person === undefined || e.people.includes(filters.person)) &&
      (filters.from === undefined || (e.at !== null && e.at >= `${filters.from}T00:00:00.000Z`)) &&
      (filters.to === undefined || (e.at !== null && e.at <= `${filters.to}T23:59:59.999Z`)),
    )
    .map((e) => e.seq)
    .reverse();
}

const indexKey = (seq: number, n: number) => `auditindex:${bareUuid(REPOSITORY)}:${seq}:${n}`;
const indexRecords = (world: World, seq: number) => {
  const records: any[] = [];
  for (let n = 0; ; n++) {
    const record = world.host.kvs.peek(indexKey(seq, n), AUDIT_INDEX_ENTITY);
    if (!record) return records;
    records.push(record);
  }
};
const headOf = (world: World) => world.host.kvs.peek(storageKeys.ledgerHead(REPOSITORY), DOCUMENT_ENTITY) as { version: number; document: { seq: number }; audit?: { from: number; at: string } };

/** A merge record counting `signers`, as the re-evaluation writes it. */
function mergeEvent(pullRequest: number, author: string, signers: string[]): LedgerEventOf {
  return {
    type: 'merge.recorded',
    subject: { kind: 'pull-request', workspace: '{11111111-1111-4111-8111-111111111111}', repository: REPOSITORY, pullRequest, commit: 'a'.repeat(40), targetBranch: 'main' },
    facts: { author, headCommit: 'a'.repeat(40) },
    counted: signers.map((signer) => ({ signer })),
    verdict: { policy: { version: 1 } },
  } as unknown as LedgerEventOf;
}

describe('audit indexes, written with the ledger entry', () => {
  it('are written in the entry’s own transaction: one per term, and the head says from where', async () => {
    const world = new World();
    try {
      const signer = await world.enrolledSigner(PEOPLE.carol);
      const seq = headOf(world).document.seq;
      const records = indexRecords(world, seq);
      expect(records.map((r) => r.term)).toEqual([`${bareUuid(REPOSITORY)} all`, `${bareUuid(REPOSITORY)} type key.enrolled`, `${bareUuid(REPOSITORY)} person ${PEOPLE.carol}`]);
      expect(new Set(records.map((r) => r.order)).size).toBe(1);
      expect(records[0]).toMatchObject({ seq, facets: { type: 'key.enrolled', pr: null } });
      expect(headOf(world).audit).toMatchObject({ from: 1, spills: 0 });
      expect(signer.keyId).toEqual(expect.any(String));
    } finally {
      world.dispose();
    }
  });

  it('are not written when the transaction fails: no entry, no head move, no index record', async () => {
    const world = new World();
    try {
      await world.enrolledSigner(PEOPLE.carol);
      const before = world.host.kvs.snapshot();
      const seq = headOf(world).document.seq;
      world.host.kvs.failTransactions = 1;
      const store = world.deps.ledger as KvsStore;
      await expect(store.recordMerge(REPOSITORY, 9, world.clock.toISOString(), mergeEvent(9, PEOPLE.alice, [PEOPLE.bob]))).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
      expect(world.host.kvs.snapshot()).toBe(before);
      expect(indexRecords(world, seq + 1)).toEqual([]);
      expect((await page(world, { person: PEOPLE.bob })).entries).toEqual([]);
    } finally {
      world.dispose();
    }
  });

  it('keep a merge counting 40 approvers within 25 operations: who does not fit is on one spill record, and still found', async () => {
    const world = new World();
    try {
      const store = world.deps.ledger as KvsStore;
      const approvers = Array.from({ length: 40 }, (_, i) => `557058:approver-${i}`);
      await store.recordMerge(REPOSITORY, 5, world.clock.toISOString(), mergeEvent(5, PEOPLE.alice, approvers));
      const records = indexRecords(world, 1);
      // 25 operations: the merge marker, the head, the entry and 22 index records (all, type, PR, 18 people, spill).
      expect(records).toHaveLength(22);
      const spill = records.at(-1);
      expect(spill.term).toBe(`${bareUuid(REPOSITORY)} spill`);
      expect(spill.facets.spilled).toEqual(approvers.slice(17));
      expect(headOf(world).audit).toMatchObject({ spills: 1, lastSpill: 1 });
      for (const person of [PEOPLE.alice, approvers[0]!, approvers[16]!, approvers[17]!, approvers[39]!]) {
        expect((await page(world, { person })).entries.map((e) => e.seq)).toEqual([1]);
      }
      // A person filter on a ledger with spills reads the spill records of its window too: 3 calls here.
      world.host.resetCalls();
      await page(world, { person: approvers[39]! });
      expect(world.host.calls.kvs).toEqual(['/api/v1/entity/query', '/api/v1/batch/get', '/api/v1/entity/query', '/api/v1/batch/get']);
      expect((await page(world, { person: approvers[39]!, type: 'key.enrolled' })).entries).toEqual([]);
    } finally {
      world.dispose();
    }
  });

  it('give every entry a time no earlier than the one before: a writer that lost a race cannot hide behind a date', async () => {
    const world = new World();
    try {
      const store = world.deps.ledger as KvsStore;
      // The first writer took its time at 23:59:59.990 on 21 November, then lost the race to one at 00:00:00.010 on the 22nd.
      world.host.latencyMs = 4;
      const late = '2026-11-22T00:00:00.010Z';
      const early = '2026-11-21T23:59:59.990Z';
      await Promise.all([
        store.recordMerge(REPOSITORY, 1, early, mergeEvent(1, PEOPLE.alice, [])),
        store.recordMerge(REPOSITORY, 2, late, mergeEvent(2, PEOPLE.alice, [])),
      ]);
      world.host.latencyMs = 0;
      const [first, second] = (await world.deps.ledger.readLedger(REPOSITORY)).map((entry, i) => describeEntry(i + 1, entry));
      expect(second!.at! >= first!.at!).toBe(true);
      // Whichever won, a date filter sees both where their times put them, and the later never sorts first.
      const byDay = [...(await walk(world, { from: '2026-11-22' })).seqs, ...(await walk(world, { to: '2026-11-21' })).seqs];
      expect(byDay.sort()).toEqual([1, 2]);
      // Sequentially, too: a caller's time before the head's is moved up to it.
      await store.recordMerge(REPOSITORY, 3, '2026-11-20T10:00:00.000Z', mergeEvent(3, PEOPLE.alice, []));
      expect((await page(world, { pullRequest: 3, from: '2026-11-22' })).entries.map((e) => e.seq)).toEqual([3]);
      expect(describeEntry(3, (await world.deps.ledger.readLedger(REPOSITORY))[2]!).at).toBe(second!.at);
    } finally {
      world.dispose();
    }
  });
});

describe('audit pages on a ledger older than its indexes', () => {
  let world: World;
  const LEGACY = 450;
  const NEW = 100;
  beforeAll(async () => {
    // Made here, not at collection: each World installs the fake host, and disposing one removes it.
    world = new World();
    const store = world.deps.ledger as KvsStore;
    await seedLedger(store, world.host.kvs, LEGACY, { indexed: false });
  }, 60_000);
  afterAll(() => world.dispose());

  it('on a ledger not written since: searches it entry by entry, 200 a call, and says so', async () => {
    const { seqs, pages } = await walk(world, { type: 'key.revoked' });
    expect(seqs).toEqual(await bruteForce(world, { type: 'key.revoked' }));
    expect(pages[0]!.scanned).toEqual({ from: LEGACY, to: LEGACY - AUDIT_SCAN_LIMIT + 1 });
    expect(pages.every((p) => p.scanned !== null)).toBe(true);
  });

  it('once written with indexes: the index answers for the new entries, then the old are searched, nothing lost or repeated', async () => {
    await seedLedger(world.deps.ledger as KvsStore, world.host.kvs, NEW);
    expect(headOf(world).audit).toMatchObject({ from: LEGACY + 1 });
    for (const filters of [{ type: 'key.revoked' }, { person: PEOPLE.bob }, { pullRequest: 3 }, { from: '2026-01-01', type: 'policy.saved' }] as Filters[]) {
      const { seqs, pages } = await walk(world, filters);
      expect(seqs).toEqual(await bruteForce(world, filters));
      // Entries the index found come first; once it is exhausted, the scan starts just below the first indexed entry.
      const firstScan = pages.findIndex((p) => p.scanned !== null);
      expect(pages[firstScan]!.scanned!.from).toBe(LEGACY);
      expect(pages.slice(0, firstScan).every((p) => p.entries.every((e) => e.seq > LEGACY))).toBe(true);
      expect(pages.slice(firstScan + 1).every((p) => p.entries.every((e) => e.seq <= LEGACY) && p.scanned !== null)).toBe(true);
    }
    // 10 revocations among the 100 new entries do not fill a page: the same call goes on into the old ones, 8 batches of 25.
    world.host.resetCalls();
    const first = await page(world, { type: 'key.revoked' });
    expect(world.host.calls.kvs).toEqual(['/api/v1/entity/query', '/api/v1/batch/get', ...Array(AUDIT_SCAN_LIMIT / 25).fill('/api/v1/batch/get')]);
    expect(first.scanned).toEqual({ from: LEGACY, to: first.entries.at(-1)!.seq });
    // A filter the new entries fill a page with costs the index's two calls alone.
    world.host.resetCalls();
    expect((await page(world, { person: PEOPLE.bob })).scanned).toBeNull();
    expect(world.host.calls.kvs).toEqual(['/api/v1/entity/query', '/api/v1/batch/get']);
  });
});

describe('filtered audit pages against a brute-force filter of the whole ledger', () => {
  const PEOPLE_POOL = Array.from({ length: 30 }, (_, i) => `557058:person-${i}`);
  const TYPES = ['key.enrolled', 'key.revoked', 'merge.recorded', 'policy.saved'] as const;
  const event = fc.oneof(
    fc.record({ type: fc.constant('key.enrolled' as const), who: fc.constantFrom(...PEOPLE_POOL) }),
    fc.record({ type: fc.constant('key.revoked' as const), who: fc.constantFrom(...PEOPLE_POOL), owner: fc.constantFrom(...PEOPLE_POOL) }),
    fc.record({ type: fc.constant('policy.saved' as const), who: fc.constantFrom(...PEOPLE_POOL) }),
    fc.record({ type: fc.constant('merge.recorded' as const), who: fc.constantFrom(...PEOPLE_POOL), pr: fc.integer({ min: 1, max: 3 }), counted: fc.subarray(PEOPLE_POOL, { maxLength: 26 }) }),
  );
  const toEvent = (e: any): LedgerEventOf => {
    switch (e.type) {
      case 'key.enrolled':
        return { type: 'key.enrolled', accountId: e.who, keyId: 'k', publicKey: {}, label: 'L' } as unknown as LedgerEventOf;
      case 'key.revoked':
        return { type: 'key.revoked', accountId: e.owner, keyId: 'k', revokedBy: e.who, scope: 'repository' } as unknown as LedgerEventOf;
      case 'policy.saved':
        return { type: 'policy.saved', savedBy: e.who, previous: null, policy: { version: 1 } } as unknown as LedgerEventOf;
      default:
        return mergeEvent(e.pr, e.who, e.counted);
    }
  };
  const day = fc.integer({ min: 0, max: 8 }).map((d) => `2026-01-0${d + 1}`);
  const values = fc.record({ pullRequest: fc.integer({ min: 1, max: 3 }), person: fc.constantFrom(...PEOPLE_POOL.slice(0, 4), PEOPLE_POOL[25]!), type: fc.constantFrom(...TYPES), from: day, to: day });
  // One or two filters at a time (more match nothing on a ledger this small), and sometimes none but dates.
  const filters: fc.Arbitrary<Filters> = fc
    .tuple(fc.subarray(['pullRequest', 'person', 'type', 'from', 'to'] as const, { minLength: 1, maxLength: 2 }), values)
    .map(([keys, all]) => Object.fromEntries(keys.map((k) => [k, all[k]])) as Filters);

  it('finds exactly the matching entries, newest first, across pages, with legacy entries below', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { minLength: 20, maxLength: 160, size: 'max' }),
        fc.integer({ min: 0, max: 60 }),
        fc.array(fc.integer({ min: -120_000, max: 3 * 3_600_000 }), { minLength: 160, maxLength: 160 }),
        filters,
        async (events, legacy, gaps, filter) => {
          if (filter.from && filter.to && filter.from > filter.to) [filter.from, filter.to] = [filter.to, filter.from];
          const world = new World();
          try {
            let t = Date.parse('2026-01-01T00:00:00.000Z');
            const times = gaps.map((g) => new Date((t += g)).toISOString());
            const store = world.deps.ledger as KvsStore;
            const legacyCount = Math.min(legacy, events.length);
            const common = { event: (i: number) => toEvent(events[i]), people: [PEOPLE.alice] };
            await seedLedger(store, world.host.kvs, legacyCount, { ...common, indexed: false, at: (i) => times[i]! });
            await seedLedger(store, world.host.kvs, events.length - legacyCount, { ...common, event: (i) => toEvent(events[legacyCount + i]), at: (i) => times[legacyCount + i]! });
            const { seqs, pages } = await walk(world, filter);
            expect(seqs).toEqual(await bruteForce(world, filter));
            expect(pages.every((p) => p.entries.length <= AUDIT_FILTERED_PAGE_SIZE)).toBe(true);
          } finally {
            world.dispose();
          }
        },
      ),
      { numRuns: 50 },
    );
  }, 240_000);
});
