import type { KvsStore } from '../src/adapters/kvsStore';
import { PEOPLE, World } from '../test/fixtures/world';
import { seedLedger } from '../test/fixtures/auditSeed';

/** How many entries the audit page is measured on. */
export const AUDIT_BENCH_ENTRIES = Number(process.env.AUDIT_BENCH_ENTRIES ?? 100_000);

/**
 * 6. The audit page on a repository with AUDIT_BENCH_ENTRIES ledger entries (seeded in the store's
 * layout straight into the fake KVS), with KVS 30 ms and Bitbucket 150 ms a round trip: the first
 * and the next page, unfiltered and filtered, in KVS calls, storage round trips and time.
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
    const measure = async (label: string, payload: Record<string, unknown>) => {
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
    const typed = await measure('first page, type = key.revoked (1 in 10)', { type: 'key.revoked' });
    const typedNext = await measure('  next page', { type: 'key.revoked', cursor: typed.page.nextCursor });
    const rare = await measure('first page, PR 3 + policy.saved (no match)', { pullRequest: 3, type: 'policy.saved' });
    await measure('  next page', { pullRequest: 3, type: 'policy.saved', cursor: rare.page.nextCursor });
    budget('audit: first page without filters in 2 KVS calls (head + one batch of 25)', first.kvs === 2 && first.page.entries.length === 25, `${first.kvs} calls, ${first.ms.toFixed(0)} ms`);
    budget('audit: next page without filters in 1 KVS call', next.kvs === 1 && next.page.entries.length === 25, `${next.kvs} call, ${next.ms.toFixed(0)} ms`);
    budget('audit: a filtered call reads at most the head + 8 batches (200 entries), whatever the ledger size', [typed, typedNext, rare].every((r) => r.kvs <= 9), `${Math.max(typed.kvs, typedNext.kvs, rare.kvs)} calls at most`);
  } finally {
    world.host.latency = {};
    world.dispose();
  }
}
