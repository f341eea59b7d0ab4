import { createPublicKey, verify } from 'node:crypto';
import {
  COUNTERSIGN_MERGE_BYPASSED,
  COUNTERSIGN_QUORUM_MET,
  pae,
  readEntry,
  sigstoreBundleOf,
  SLSA_SOURCE_TWO_PARTY_REVIEWED,
  summaryOfEnvelope,
  type Envelope,
  type LedgerEntry,
  type LedgerEventOf,
  type AppPublicJwk,
} from '../../src/core';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { verifyEvidence } from '../../src/core/evidence';
import { exportEvidence, type ExportPage } from '../../src/handlers/exports';
import { entriesOf, evidenceRun } from '../fixtures/evidenceRun';
import { PEOPLE, REPOSITORY, World } from '../fixtures/world';
import { verifyWithSigstore } from '../support/sigstoreBundle';

/**
 * The exports of a real run (see test/fixtures/evidenceRun.ts: pull request 1 merged with alice's and
 * bob's approvals counted, dave's key revoked; pull request 2 merged by bypass), taken as an admin
 * would from the audit page, page by page.
 */
let world: World;
let entries: LedgerEntry[];
let appKey: { keyId: string; publicJwk: AppPublicJwk };

beforeAll(async () => {
  const run = await evidenceRun();
  world = run.world;
  entries = entriesOf(run.lines);
  appKey = await world.deps.ledger.appPublicKey();
});
afterAll(() => world.dispose());

const adminContext = () => world.context(PEOPLE.admin, undefined);

async function page(payload: Record<string, unknown>, pageSize?: number, accountId: string = PEOPLE.admin): Promise<ExportPage> {
  return world.host.actAs(accountId, () => exportEvidence(world.deps, payload, world.context(accountId, undefined), pageSize ? { pageSize } : {}));
}

/** Every page of an export, concatenated, and how many pages it took. */
async function all(payload: Record<string, unknown>, pageSize?: number): Promise<{ content: string; pages: number; last: ExportPage }> {
  let content = '';
  let pages = 0;
  let cursor: string | undefined;
  let last: ExportPage;
  do {
    last = await page({ ...payload, ...(cursor ? { cursor } : {}) }, pageSize);
    content += last.content;
    cursor = last.nextCursor;
    pages++;
  } while (cursor && pages < 100);
  return { content, pages, last };
}

const jsonLines = (content: string) => content.split('\n').filter(Boolean).map((line) => JSON.parse(line));
const decisions = () => entries.filter((e) => e.event.type === 'decision.accepted').map((e) => e.event as unknown as Extract<LedgerEventOf, { type: 'decision.accepted' }>);

describe('exportEvidence', () => {
  it('is typed in the contract and answers through the resolver for an admin', async () => {
    const result = await world.call('exportEvidence', PEOPLE.admin, { format: 'csv' }, adminContext());
    expect(result).toMatchObject({ ok: true, data: { mediaType: 'text/csv; charset=utf-8; header=present', filename: expect.stringMatching(/\.csv$/) } });
  });

  it.each([PEOPLE.alice, PEOPLE.outsider])('refuses anyone but a repository admin, before reading the ledger (%s)', async (accountId) => {
    const readRange = jest.spyOn(world.deps.ledger, 'readLedgerRange');
    const readKey = jest.spyOn(world.deps.ledger, 'appPublicKey');
    const signKey = jest.spyOn(world.deps.ledger, 'appSigningKey');
    try {
      for (const format of ['bundle', 'sigstore', 'vsa', 'csv']) {
        const result = await world.call('exportEvidence', accountId, { format }, world.context(accountId, undefined));
        expect(result).toMatchObject({ ok: false, code: 'FORBIDDEN', message: expect.stringMatching(/admin/) });
      }
      expect(readRange).not.toHaveBeenCalled();
      expect(readKey).not.toHaveBeenCalled();
      expect(signKey).not.toHaveBeenCalled();
    } finally {
      readRange.mockRestore();
      readKey.mockRestore();
      signKey.mockRestore();
    }
  });

  it('refuses a malformed request, a foreign cursor and a narrowed bundle, with a sentence', async () => {
    const call = (payload: unknown) => world.call('exportEvidence', PEOPLE.admin, payload, adminContext());
    expect(await call({ format: 'pdf' })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await call({ format: 'csv', from: 'yesterday' })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    // A day that is no day would filter nothing at all, silently.
    expect(await call({ format: 'csv', from: '2026-13-01' })).toMatchObject({ ok: false, code: 'INVALID_INPUT', message: expect.stringContaining('real date') });
    expect(await call({ format: 'csv', to: '2026-02-30' })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await call({ format: 'csv', extra: 1 })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await call({ format: 'csv', cursor: 'not-a-cursor' })).toMatchObject({ ok: false, code: 'INVALID_INPUT', message: expect.stringMatching(/without a cursor/) });
    const { nextCursor } = await page({ format: 'sigstore' }, 3);
    expect(await call({ format: 'csv', cursor: nextCursor })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await call({ format: 'bundle', pullRequest: 1 })).toMatchObject({ ok: false, code: 'INVALID_INPUT', message: expect.stringMatching(/whole ledger/) });
    expect(await call({ format: 'csv', from: '2026-11-23', to: '2026-11-22' })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
  });

  it('reads at most a page of entries per call, and the pages with their cursors add up to the one-page export', async () => {
    const readRange = jest.spyOn(world.deps.ledger, 'readLedgerRange');
    try {
      const paged = await all({ format: 'csv' }, 4);
      expect(paged.pages).toBe(Math.ceil(entries.length / 4));
      expect(paged.last.nextCursor).toBeUndefined();
      for (const [, , count] of readRange.mock.calls) expect(count).toBeLessThanOrEqual(4);
      const whole = await page({ format: 'csv' });
      expect(whole.nextCursor).toBeUndefined();
      expect(paged.content).toBe(whole.content);
      expect(whole.content.split('\r\n').filter(Boolean)).toHaveLength(entries.length + 1);
      expect(whole.progress).toEqual({ read: entries.length, total: entries.length });
    } finally {
      readRange.mockRestore();
    }
  });

  it('says how far each page has read, for a progress bar, and names the file by repository, scope and format', async () => {
    const first = await page({ format: 'csv' }, 4);
    expect(first.progress).toEqual({ read: 4, total: entries.length });
    const second = await page({ format: 'csv', cursor: first.nextCursor }, 4);
    expect(second.progress).toEqual({ read: 8, total: entries.length });
    const uuid8 = REPOSITORY.replace(/[{}]/g, '').slice(0, 8);
    expect(first.filename).toBe(`countersign-${uuid8}.csv`);
    // `to` is exclusive: the name gives the last day included.
    expect((await page({ format: 'vsa', pullRequest: 3, from: '2026-11-01', to: '2026-11-23' })).filename).toBe(`countersign-${uuid8}-pr-3-from-2026-11-01-to-2026-11-22.vsa.intoto.jsonl`);
    expect((await page({ format: 'sigstore', to: '2026-11-23T12:00:00.000Z' })).filename).toBe(`countersign-${uuid8}-to-2026-11-23.sigstore.jsonl`);
  });

  it('writes a paged evidence bundle that verifies as a whole, pinned to the app key', async () => {
    const { content, pages } = await all({ format: 'bundle' }, 5);
    expect(pages).toBeGreaterThan(1);
    const lines = content.split('\n').filter(Boolean);
    expect(lines).toHaveLength(entries.length + 1);
    const report = await verifyEvidence(lines, { trustedAppKeyIds: [appKey.keyId] });
    expect(report).toMatchObject({ ok: true, entries: entries.length });
  });

  it('stops at the head its first page read: entries written meanwhile wait for the next export', async () => {
    const first = await page({ format: 'csv' }, 4);
    const before = entries.length;
    const carol = await world.enrolledSigner(PEOPLE.carol); // one more ledger entry
    try {
      let content = first.content;
      let cursor = first.nextCursor;
      while (cursor) {
        const next = await page({ format: 'csv', cursor }, 4);
        content += next.content;
        cursor = next.nextCursor;
      }
      expect(content.split('\r\n').filter(Boolean)).toHaveLength(before + 1);
      expect(content).not.toContain('key.enrolled,,,' + carol.accountId);
      const now = await page({ format: 'csv' });
      expect(now.content.split('\r\n').filter(Boolean)).toHaveLength(before + 2);
    } finally {
      entries = (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!);
    }
  });

  it("exports each approval as a Sigstore bundle that @sigstore/verify accepts with the approver's key, and refuses once a payload byte changes", async () => {
    const { content } = await all({ format: 'sigstore' }, 3);
    const bundles = jsonLines(content);
    const accepted = decisions();
    expect(bundles).toHaveLength(accepted.length);
    expect(accepted.length).toBeGreaterThanOrEqual(3);
    for (const [i, bundle] of bundles.entries()) {
      const decision = accepted[i]!;
      expect(bundle).toMatchObject({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', verificationMaterial: { publicKey: { hint: decision.keyId } } });
      await expect(verifyWithSigstore(bundle, decision.publicKey, decision.keyId)).resolves.toBeUndefined();
      const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
      for (const index of [0, Math.floor(payload.length / 2), payload.length - 1]) {
        const changed = Buffer.from(payload);
        changed[index]! ^= 0x01;
        const tampered = { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: changed.toString('base64') } };
        await expect(verifyWithSigstore(tampered, decision.publicKey, decision.keyId)).rejects.toThrow();
      }
      // Someone else's key does not verify it either.
      const other = accepted.find((d) => d.keyId !== decision.keyId)!;
      await expect(verifyWithSigstore(bundle, other.publicKey, decision.keyId)).rejects.toThrow();
    }
  });

  it('filters approvals by pull request', async () => {
    const pr2 = jsonLines((await all({ format: 'sigstore', pullRequest: 2 })).content);
    expect(pr2).toEqual([]);
    const pr1 = jsonLines((await all({ format: 'sigstore', pullRequest: 1 })).content);
    expect(pr1).toHaveLength(decisions().filter((d) => d.subject.pullRequest === 1).length);
    const csv = (await all({ format: 'csv', pullRequest: 2 })).content.split('\r\n').filter(Boolean);
    expect(csv.slice(1).map((row) => row.split(',')[3])).toEqual(entries.filter((e) => (e.event as any).subject?.pullRequest === 2).map(() => '2'));
    expect(csv.length).toBeGreaterThan(1);
  });

  it('filters by date: from inclusive, to exclusive, a day meaning its midnight UTC', async () => {
    const later = new Date('2026-11-24T08:00:00.000Z');
    world.clock = later;
    world.addReviewer('557058:0007-erin', 'Erin');
    await world.enrolledSigner('557058:0007-erin');
    entries = (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!);
    const rows = (payload: Record<string, unknown>) => all({ format: 'csv', ...payload }, 4).then((r) => r.content.split('\r\n').filter(Boolean).slice(1));
    const fromLater = await rows({ from: later.toISOString() });
    expect(fromLater).toHaveLength(entries.filter((e) => e.at >= later.toISOString()).length);
    expect(fromLater.length).toBeGreaterThan(0);
    expect(fromLater.every((row) => row.split(',')[1] === later.toISOString())).toBe(true);
    const before = await rows({ to: '2026-11-24' });
    expect(before).toHaveLength(entries.filter((e) => e.at < '2026-11-24T00:00:00.000Z').length);
    expect(before.length + fromLater.length).toBe(entries.length);
    expect(await rows({ from: '2026-11-23', to: '2026-11-24' })).toEqual([]);
  });

  it('reads a ledger page by seq, never past the head read with it', async () => {
    const whole = await world.deps.ledger.readLedger(REPOSITORY);
    const seqs = (list: { envelope: Envelope }[]) => list.map((e) => readEntry(e as never)!.seq);
    const middle = await world.deps.ledger.readLedgerRange(REPOSITORY, 3, 4);
    expect(middle.head?.seq).toBe(whole.length);
    expect(middle.entries).toEqual(whole.slice(2, 6));
    expect(seqs((await world.deps.ledger.readLedgerRange(REPOSITORY, whole.length, 30)).entries)).toEqual([whole.length]);
    expect((await world.deps.ledger.readLedgerRange(REPOSITORY, whole.length + 1, 5)).entries).toEqual([]);
    expect(await world.deps.ledger.readLedgerRange('{99999999-9999-4999-8999-999999999999}', 1, 5)).toEqual({ head: undefined, entries: [] });
    await expect(world.deps.ledger.readLedgerRange(REPOSITORY, 0, 5)).rejects.toThrow(/from seq 1/);
    await expect(world.deps.ledger.readLedgerRange(REPOSITORY, 1, 5000)).rejects.toThrow(/1 to 1000/);
    // Entries without their head: an export would otherwise say the ledger is empty, and verify.
    const headKey = storageKeys.ledgerHead(REPOSITORY);
    const head = world.host.kvs.peek(headKey, DOCUMENT_ENTITY);
    world.host.kvs.drop(headKey, DOCUMENT_ENTITY);
    try {
      await expect(world.deps.ledger.readLedgerRange(REPOSITORY, 1, 5)).rejects.toThrow(/entries but no head record/);
    } finally {
      world.host.kvs.plant(headKey, head, DOCUMENT_ENTITY);
    }
  });

  describe('SLSA verification summaries', () => {
    let envelopes: Envelope[];
    beforeAll(async () => {
      envelopes = jsonLines((await all({ format: 'vsa' }, 4)).content);
    });

    const appVerifies = (envelope: Envelope, payload = Buffer.from(envelope.payload, 'base64')) =>
      verify(appKey.publicJwk.kty === 'EC' ? 'sha256' : null, pae(envelope.payloadType, payload), createPublicKey({ key: { ...appKey.publicJwk }, format: 'jwk' }), Buffer.from(envelope.signatures[0]!.sig, 'base64'));

    it('are one a merge, signed by the app key, and refused once a payload byte changes', () => {
      const merges = entries.filter((e) => e.event.type === 'merge.recorded' || e.event.type === 'merge.bypassed');
      expect(envelopes).toHaveLength(merges.length);
      expect(envelopes).toHaveLength(2);
      for (const envelope of envelopes) {
        expect(envelope).toMatchObject({ payloadType: 'application/vnd.in-toto+json', signatures: [{ keyid: appKey.keyId }] });
        expect(appVerifies(envelope)).toBe(true);
        const changed = Buffer.from(envelope.payload, 'base64');
        changed[changed.length >> 1]! ^= 0x01;
        expect(appVerifies(envelope, changed)).toBe(false);
      }
    });

    it('verify with @sigstore/verify too, given only the app public key, as a Sigstore bundle', async () => {
      for (const envelope of envelopes) {
        const bundle = JSON.parse(JSON.stringify(sigstoreBundleOf(envelope, appKey.keyId)));
        await expect(verifyWithSigstore(bundle, appKey.publicJwk as never, appKey.keyId)).resolves.toBeUndefined();
        const changed = Buffer.from(envelope.payload, 'base64');
        changed[0]! ^= 0x01;
        const tampered = sigstoreBundleOf({ ...envelope, payload: changed.toString('base64') }, appKey.keyId);
        await expect(verifyWithSigstore(tampered, appKey.publicJwk as never, appKey.keyId)).rejects.toThrow();
      }
    });

    it('name the merged commit, the target ref and the result: PASSED and two-party reviewed for pull request 1', () => {
      const merged = entries.find((e) => e.event.type === 'merge.recorded')!.event as any;
      const vsa = summaryOfEnvelope(envelopes[0]!)!;
      expect(vsa.subject[0]).toMatchObject({ digest: { gitCommit: merged.facts.headCommit }, annotations: { source_refs: ['refs/heads/main'] } });
      expect(vsa.predicate.verificationResult).toBe('PASSED');
      // The author plus alice and bob, whose approvals counted: at least two distinct people.
      expect(vsa.predicate.verifiedLevels).toEqual([SLSA_SOURCE_TWO_PARTY_REVIEWED, COUNTERSIGN_QUORUM_MET]);
      expect(vsa.predicate['https://countersign.dev/verification_summary/merge/v1']).toMatchObject({ pullRequest: 1, author: PEOPLE.author, approvedBy: [PEOPLE.alice, PEOPLE.bob].sort() });
      expect(vsa.predicate.policy.digest?.sha256).toBe(merged.verdict.policy.hash.replace('sha256:', ''));
    });

    it('say FAILED, with no two-party claim, for the bypassed merge of pull request 2', () => {
      const vsa = summaryOfEnvelope(envelopes[1]!)!;
      expect(vsa.predicate['https://countersign.dev/verification_summary/merge/v1'].pullRequest).toBe(2);
      expect(vsa.predicate.verificationResult).toBe('FAILED');
      expect(vsa.predicate.verifiedLevels).toEqual(['FAILED', COUNTERSIGN_MERGE_BYPASSED]);
    });

    it('filter by pull request', async () => {
      const only2 = jsonLines((await all({ format: 'vsa', pullRequest: 2 })).content);
      expect(only2.map((e: Envelope) => summaryOfEnvelope(e)!.predicate['https://countersign.dev/verification_summary/merge/v1'].pullRequest)).toEqual([2]);
    });
  });
});
