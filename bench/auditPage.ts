import type { KvsStore } from '../src/adapters/kvsStore';
import { PEOPLE, World } from '../test/fixtures/world';
import { seedLedger } from '../test/fixtures/auditSeed';

/** How many entries the audit page is measured on. */
export const AUDIT_BENCH_ENTRIES = Number(process.env.AUDIT_BENCH_ENTRIES ?? 100_000);

/**
 * 6. The audit page on a repository with AUDIT_BENCH_ENTRIES ledger entries (seeded in the store's
 * layout straight into the fake KVS), with KVS 30 ms and Bitbucket 150 ms a round trip: the first
 * and the next page, unfiltered and filtered (by type, person, pull request, dates, and a combination
 * the index of one answers with the others checked on its records), in KVS calls and time.
 */
export async function auditFigures(budget: (label: string, ok: boolean, detail?: string) => void): Promise<void> {
  const world = new World();
  try {
    const seedStart = performance.now();
    const top = await seedLedger(world.deps.ledger as KvsStore, world.host.kvs, AUDIT_BENCH_ENTRIES);
    console.log(`\nAudit page on ${top.toLocaleString('en')} ledger entries (seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s), KVS 30 ms and Bitbucket 150 ms a round trip`);
    console.log('call                                              ms  KVS calls  entries  searched to');
    world.host.latency = { kvs: 30, bitbucket: 150 };
    const context = world.context(PEOPLE.outsider, undefined);
    // Each call runs once unmeasured first: the fake sorts a partition of up to 100,000 index records on
    // its first query (the real store keeps its index sorted), which is not the page's cost.
    const measure = async (label: string, payload: Record<string, unknown>) => {
      await world.call('getAuditPage', PEOPLE.outsider, payload, context);
      world.host.resetCalls();
      const start = performance.now();
      const result = await world.call('getAuditPage', PEOPLE.outsider, payload, context);
      const ms = performance.now() - start;
      if (!result.ok) throw new Error(`${label}: ${result.code} ${result.message}`);
      const kvs = world.host.calls.kvs.length;
      console.log(`${label.padEnd(46)} ${ms.toFixed(0).padStart(5)}  ${String(kvs).padStart(9)}  ${String(result.data.entries.length).padStart(7)}  ${String(result.data.searchedTo ?? '-').padStart(11)}`);
      return { ms, kvs, page: result.data };
    };
    const first = await measure('first page, no filter', {});
    const next = await measure('next page, no filter', { cursor: first.page.nextCursor });
    const filtered: { label: string; payload: Record<string, unknown> }[] = [
      { label: 'type = key.revoked (1 in 10)', payload: { type: 'key.revoked' } },
      { label: 'person = bob (3 in 10)', payload: { person: PEOPLE.bob } },
      { label: 'pull request 3', payload: { pullRequest: 3 } },
      { label: 'from 2026-02-01 to 2026-02-02 (dates only)', payload: { from: '2026-02-01', to: '2026-02-02' } },
      { label: 'PR 3 + decision.accepted + to 2026-02-01', payload: { pullRequest: 3, type: 'decision.accepted', to: '2026-02-01' } },
      { label: 'PR 3 + policy.saved (no match)', payload: { pullRequest: 3, type: 'policy.saved' } },
    ];
    const pages: { kvs: number; ms: number; entries: number }[] = [];
    for (const { label, payload } of filtered) {
      const one = await measure(`first page, ${label}`, payload);
      pages.push({ kvs: one.kvs, ms: one.ms, entries: one.page.entries.length });
      if (one.page.nextCursor) {
        const two = await measure('  next page', { ...payload, cursor: one.page.nextCursor });
        pages.push({ kvs: two.kvs, ms: two.ms, entries: two.page.entries.length });
      }
    }
    budget('audit: first page without filters in 2 KVS calls (head + one batch of 25)', first.kvs === 2 && first.page.entries.length === 25, `${first.kvs} calls, ${first.ms.toFixed(0)} ms`);
    budget('audit: next page without filters in 1 KVS call', next.kvs === 1 && next.page.entries.length === 25, `${next.kvs} call, ${next.ms.toFixed(0)} ms`);
    budget(
      'audit: every filtered first and next page in at most 2 KVS calls (one index query, one batch), whatever the ledger size',
      pages.every((p) => p.kvs <= 2),
      `${Math.max(...pages.map((p) => p.kvs))} calls at most, ${Math.max(...pages.map((p) => p.ms)).toFixed(0)} ms at most`,
    );
  } finally {
    world.host.latency = {};
    world.dispose();
  }
}
