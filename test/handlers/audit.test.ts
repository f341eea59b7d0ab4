import type { KvsStore } from '../../src/adapters/kvsStore';
import { AUDIT_FILTERED_PAGE_SIZE, AUDIT_PAGE_SIZE, type AuditEntry, type AuditPage } from '../../src/handlers/audit';
import { commitHash, PEOPLE, World, WORKSPACE } from '../fixtures/world';
import { SEED_START, SEEDED_PEOPLE, seededType, seedLedger } from '../fixtures/auditSeed';

/** The audit page's resolver on a ledger of 2,000 entries seeded in the store's layout. */
describe('getAuditPage', () => {
  const SEEDED = 2000;
  const world = new World();
  beforeAll(async () => {
    await seedLedger(world.deps.ledger as KvsStore, world.host.kvs, SEEDED);
  }, 60_000);
  afterAll(() => world.dispose());

  const audit = (payload: Record<string, unknown> = {}, as: string = PEOPLE.outsider) => world.call<AuditPage>('getAuditPage', as, payload, world.context(as, undefined));
  async function page(payload: Record<string, unknown> = {}, as?: string): Promise<AuditPage> {
    const result = await audit(payload, as);
    if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
    return result.data;
  }
  /** Every entry matching `filters`, following cursors to the end, and how many calls that took. */
  async function walk(filters: Record<string, unknown>): Promise<{ seqs: number[]; calls: number; pages: AuditPage[] }> {
    const pages: AuditPage[] = [];
    let cursor: string | undefined;
    do {
      const next = await page({ ...filters, ...(cursor ? { cursor } : {}) });
      pages.push(next);
      cursor = next.nextCursor ?? undefined;
    } while (cursor);
    return { seqs: pages.flatMap((p) => p.entries.map((e) => e.seq)), calls: pages.length, pages };
  }
  /** Seeded seqs (1…SEEDED) for which `keep(i)` holds, i = seq − 1, newest first. */
  const expected = (keep: (i: number) => boolean) => Array.from({ length: SEEDED }, (_, k) => SEEDED - k).filter((seq) => keep(seq - 1));

  it('lists the newest 25 first, in two KVS calls (the head and one batch), and the next 25 in one', async () => {
    world.host.resetCalls();
    const first = await page();
    expect(first.entries.map((e) => e.seq)).toEqual(Array.from({ length: AUDIT_PAGE_SIZE }, (_, i) => SEEDED - i));
    expect(world.host.calls.kvs).toEqual(['/api/v1/entity/get', '/api/v1/batch/get']);
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(first).toMatchObject({ top: SEEDED, filtered: false, searchedTo: SEEDED - 24 });

    world.host.resetCalls();
    const second = await page({ cursor: first.nextCursor });
    expect(second.entries.map((e) => e.seq)).toEqual(Array.from({ length: AUDIT_PAGE_SIZE }, (_, i) => SEEDED - 25 - i));
    expect(world.host.calls.kvs).toEqual(['/api/v1/batch/get']);
  });

  it('pages through the whole ledger once, newest first, ending with no cursor', async () => {
    const { seqs, calls } = await walk({});
    expect(seqs).toEqual(expected(() => true));
    expect(calls).toBe(SEEDED / AUDIT_PAGE_SIZE);
  });

  it('opens each entry to readable fields and its full content, with the signed statement decoded', async () => {
    const entries = (await page()).entries;
    const decision = entries.find((e) => e.type === 'decision.accepted')!;
    const i = decision.seq - 1;
    expect(decision).toMatchObject({
      who: SEEDED_PEOPLE[i % 3],
      pullRequest: (i % 7) + 1,
      commit: commitHash(`seed-${i}`),
      decision: i % 10 === 5 ? 'reject' : 'approve',
      keyId: expect.stringMatching(/\S/),
      at: new Date(SEED_START + i * 60_000).toISOString(),
      policyVersion: null,
    });
    expect(decision.event).toMatchObject({ type: 'decision.accepted', signer: decision.who, envelope: { payloadType: 'application/vnd.in-toto+json' } });
    expect(decision.statement).toMatchObject({ subject: [{ digest: { gitCommit: decision.commit } }], predicate: { decision: decision.decision, signer: decision.who } });
    expect(decision.envelope.signatures).toHaveLength(1);
    expect(decision.hash).toMatch(/^[0-9a-f]{64}$/);

    const saved = entries.find((e) => e.type === 'policy.saved')!;
    expect(saved).toMatchObject({ who: PEOPLE.admin, policyVersion: saved.seq, pullRequest: null, statement: null });
    const revoked = entries.find((e) => e.type === 'key.revoked')!;
    expect(revoked).toMatchObject({ who: PEOPLE.admin, people: [PEOPLE.admin, SEEDED_PEOPLE[(revoked.seq - 1) % 3]] });
  });

  it('filters by event type from its index: one query and one batch a page, every match found', async () => {
    world.host.resetCalls();
    const first = await page({ type: 'key.revoked' });
    // One query of the type's index, then the page's entries with the head in one batch.
    expect(world.host.calls.kvs).toEqual(['/api/v1/entity/query', '/api/v1/batch/get']);
    expect(first.entries).toHaveLength(AUDIT_FILTERED_PAGE_SIZE);
    expect(first.entries.every((e) => e.type === 'key.revoked')).toBe(true);
    expect(first).toMatchObject({ filtered: true, top: SEEDED, scanned: null });
    const { seqs, pages } = await walk({ type: 'key.revoked' });
    expect(seqs).toEqual(expected((i) => i % 10 === 9));
    // Every page but the last is full, and says how far back it searched.
    for (const p of pages.slice(0, -1)) {
      expect(p.entries).toHaveLength(AUDIT_FILTERED_PAGE_SIZE);
      expect(p.searchedTo).toBe(p.entries.at(-1)!.seq);
    }
  });

  it('filters by pull request', async () => {
    const { seqs } = await walk({ pullRequest: 3 });
    expect(seqs).toEqual(expected((i) => i % 10 < 6 && i % 7 === 2));
    expect(seqs.length).toBeGreaterThan(100);
  });

  it('filters by person: anyone the entry names', async () => {
    const bob = SEEDED_PEOPLE.indexOf(PEOPLE.bob);
    const { seqs } = await walk({ person: PEOPLE.bob });
    expect(seqs).toEqual(expected((i) => i % 10 !== 7 && i % 3 === bob));
    const admin = await walk({ person: PEOPLE.admin, type: 'policy.saved' });
    expect(admin.seqs).toEqual(expected((i) => i % 10 === 7));
  });

  it('filters by date: the window bounds the index, so no page reads outside it', async () => {
    // Entries are a minute apart from 1 Jan 00:00: 1,440 on 1 January, the rest on 2 January.
    const onFirst = await walk({ to: '2026-01-01' });
    expect(onFirst.seqs).toEqual(expected((i) => i < 1440));
    const onSecond = await walk({ from: '2026-01-02' });
    expect(onSecond.seqs).toEqual(expected((i) => i >= 1440));
    expect(onSecond.pages.every((p) => p.scanned === null)).toBe(true);
    const decisionsOnFirst = await walk({ from: '2026-01-01', to: '2026-01-01', type: 'decision.accepted', pullRequest: 1 });
    expect(decisionsOnFirst.seqs).toEqual(expected((i) => i < 1440 && i % 10 < 6 && i % 7 === 0));
    world.host.resetCalls();
    expect((await page({ from: '2025-12-01', to: '2025-12-31' })).entries).toEqual([]);
    expect(world.host.calls.kvs).toEqual(['/api/v1/entity/query', '/api/v1/batch/get']);
  });

  it('shows an entry written by the app on top, with who acted', async () => {
    const signer = await world.enrolledSigner(PEOPLE.carol);
    const top = (await page()).entries[0] as AuditEntry;
    expect(top).toMatchObject({ seq: SEEDED + 1, type: 'key.enrolled', who: PEOPLE.carol, keyId: signer.keyId });
  });

  it('refuses anyone who cannot read the repository, as Bitbucket says when asked as them', async () => {
    const stranger = '557058:9999-stranger';
    world.host.bitbucket.addUser({ accountId: stranger, displayName: 'Stranger', uuid: '{00000000-0000-4000-8000-00000000beef}' });
    world.host.resetCalls();
    const refused = await audit({}, stranger);
    expect(refused).toEqual({ ok: false, code: 'FORBIDDEN', message: expect.stringContaining('ask an admin for read access') });
    expect(world.host.calls.bitbucket).toEqual([expect.stringContaining('/2.0/user/workspaces/')]);
    // Bitbucket is asked first: nothing of the ledger is even read for them.
    expect(world.host.calls.kvs).toEqual([]);
    // Read access is enough; only an admin is told the page may export.
    expect(await audit({}, PEOPLE.outsider)).toMatchObject({ ok: true, data: { canExport: false } });
    expect(await audit({}, PEOPLE.admin)).toMatchObject({ ok: true, data: { canExport: true } });
  });

  it.each([
    [{ cursor: '12' }, 'cursor'],
    [{ cursor: 's0' }, 'cursor'],
    [{ type: 'key.deleted' }, 'type'],
    [{ pullRequest: 0 }, 'pullRequest'],
    [{ from: '2026-02-30x' }, 'from'],
    [{ extra: 1 }, 'extra'],
  ])('refuses %j as INVALID_INPUT naming the field', async (payload, field) => {
    const result = await audit(payload);
    expect(result).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(!result.ok && result.message).toContain(field);
  });

  it('refuses a date range that is empty, saying how to fix it', async () => {
    expect(await audit({ from: '2026-01-03', to: '2026-01-02' })).toMatchObject({ ok: false, code: 'INVALID_INPUT', message: expect.stringContaining('swap them') });
  });
});

describe('getAuditPage on an empty ledger', () => {
  it('answers no entries and no cursor', async () => {
    const world = new World();
    try {
      const result = await world.call('getAuditPage', PEOPLE.alice, {}, world.context(PEOPLE.alice, undefined));
      expect(result).toEqual({ ok: true, data: { workspace: WORKSPACE, entries: [], nextCursor: null, searchedTo: null, top: 0, filtered: false, canExport: false, scanned: null } });
    } finally {
      world.dispose();
    }
  });
});
