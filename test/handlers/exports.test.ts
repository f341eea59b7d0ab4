import { createPublicKey, verify } from 'node:crypto';
import {
  COUNTERSIGN_MERGE_BYPASSED,
  COUNTERSIGN_QUORUM_MET,
  nextEntry,
  pae,
  readEntry,
  sigstoreBundleOf,
  SLSA_SOURCE_TWO_PARTY_REVIEWED,
  summaryOfEnvelope,
  type Envelope,
  type LedgerEntry,
  type LedgerEventOf,
  type AppPublicJwk,
  type SignedLedgerEntry,
} from '../../src/core';
import { evidenceBundle } from '../../src/handlers/evidence';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { verifyEvidence } from '../../src/core/evidence';
import { exportEvidence, type ExportPage } from '../../src/handlers/exports';
import { entriesOf, evidenceRun } from '../fixtures/evidenceRun';
import { PEOPLE, REPOSITORY, World } from '../fixtures/world';
import { verifyWithSigstore } from '../support/sigstoreBundle';
import { mergeCommitOf } from '../../dev/fakeBitbucket';

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
const call = (payload: unknown) => world.call('exportEvidence', PEOPLE.admin, payload, adminContext());

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

  it('reads at most a page of entries per call (and the one before, to chain to), and the pages with their cursors add up to the one-page export', async () => {
    const readRange = jest.spyOn(world.deps.ledger, 'readLedgerRange');
    try {
      const paged = await all({ format: 'csv' }, 4);
      expect(paged.pages).toBe(Math.ceil(entries.length / 4));
      expect(paged.last.nextCursor).toBeUndefined();
      // Page k (from 0) reads entries 4k+1 to 4k+4, and after the first, entry 4k too: the one the page before ended with.
      expect(readRange.mock.calls.map(([, from]) => from)).toEqual(Array.from({ length: paged.pages }, (_, k) => Math.max(1, 4 * k)));
      for (const [, , count] of readRange.mock.calls) expect(count).toBeLessThanOrEqual(5);
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
    expect((await page({ format: 'vsa', pullRequest: 3, from: '2026-11-01', to: '2026-11-22' })).filename).toBe(`countersign-${uuid8}-pr-3-from-2026-11-01-to-2026-11-22.vsa.intoto.jsonl`);
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

  it('filters by date as the audit page does: both bounds inclusive, a day meaning the whole UTC day', async () => {
    // One entry in the last millisecond of the 23rd, one in the first of the 24th, one later on the 24th.
    const times = ['2026-11-23T23:59:59.999Z', '2026-11-24T00:00:00.000Z', '2026-11-24T08:00:00.000Z'];
    for (const [i, at] of times.entries()) {
      world.clock = new Date(at);
      const who = `557058:000${7 + i}-late`;
      world.addReviewer(who, `Late ${i}`);
      await world.enrolledSigner(who);
    }
    entries = (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!);
    const rows = (payload: Record<string, unknown>) => all({ format: 'csv', ...payload }, 4).then((r) => r.content.split('\r\n').filter(Boolean).slice(1));
    const timesOf = async (payload: Record<string, unknown>) => (await rows(payload)).map((row) => row.split(',')[1]);
    const seqs = async (payload: Record<string, unknown>) => (await rows(payload)).map((row) => Number(row.split(',')[0]));

    // A day's `to` includes that whole day, its last millisecond too; the next day's first is out.
    const through23 = await timesOf({ to: '2026-11-23' });
    expect(through23).toContain('2026-11-23T23:59:59.999Z');
    expect(through23).not.toContain('2026-11-24T00:00:00.000Z');
    expect(through23).toHaveLength(entries.filter((e) => e.at <= '2026-11-23T23:59:59.999Z').length);
    // from = to = one day is that day.
    expect(await timesOf({ from: '2026-11-23', to: '2026-11-23' })).toEqual(['2026-11-23T23:59:59.999Z']);
    expect(await timesOf({ from: '2026-11-24', to: '2026-11-24' })).toEqual(['2026-11-24T00:00:00.000Z', '2026-11-24T08:00:00.000Z']);
    // A time is itself, inclusive at both ends.
    expect(await timesOf({ from: '2026-11-24T00:00:00.000Z', to: '2026-11-24T00:00:00.000Z' })).toEqual(['2026-11-24T00:00:00.000Z']);
    expect(await rows({ to: '2026-11-24' })).toHaveLength(entries.length);
    // The very entries the audit page shows for the same days.
    for (const days of [{ to: '2026-11-23' }, { from: '2026-11-24', to: '2026-11-24' }, { from: '2026-11-23', to: '2026-11-23' }]) {
      const audit = await world.call('getAuditPage', PEOPLE.admin, days, adminContext());
      expect(audit).toMatchObject({ ok: true });
      const shown = (audit as { data: { entries: { seq: number }[] } }).data.entries.map((e) => e.seq).sort((a, b) => a - b);
      expect(await seqs(days)).toEqual(shown);
    }
    expect(await call({ format: 'csv', from: '2026-11-24', to: '2026-11-23' })).toMatchObject({ ok: false, code: 'INVALID_INPUT', message: expect.stringContaining('ends before it begins') });
  });

  it('asks once more for an entry below the head that a concurrent batch read missed, and reports one that stays missing', async () => {
    const whole = await world.deps.ledger.readLedger(REPOSITORY);
    const lastKey = storageKeys.ledgerEntry(REPOSITORY, whole.length);
    const kvs = world.host.kvs as unknown as { batchGet(items: { key: string }[]): { successfulKeys: { key: string }[]; failedKeys: unknown[] } };
    const original = kvs.batchGet.bind(kvs);
    // As if the batch holding the last entry was read a moment before that entry (and the head) were committed.
    const hide = (times: number) => {
      let left = times;
      return jest.spyOn(kvs, 'batchGet').mockImplementation((items) => {
        const answer = original(items);
        if (left > 0 && items.some((i) => i.key === lastKey)) {
          left--;
          return { successfulKeys: answer.successfulKeys.filter((k) => k.key !== lastKey), failedKeys: [...answer.failedKeys, { key: lastKey, error: { code: 'KEY_NOT_FOUND', message: 'Key not found' } }] };
        }
        return answer;
      });
    };
    const raced = hide(1);
    try {
      expect((await world.deps.ledger.readLedgerRange(REPOSITORY, 1, whole.length)).entries).toEqual(whole);
    } finally {
      raced.mockRestore();
    }
    const gone = hide(2);
    try {
      expect((await world.deps.ledger.readLedgerRange(REPOSITORY, 1, whole.length)).entries).toEqual(whole.slice(0, -1));
    } finally {
      gone.mockRestore();
    }
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

    it('name the commit the merge wrote (as Bitbucket answered the merge), the target ref and the result: PASSED and two-party reviewed for pull request 1', () => {
      const merged = entries.find((e) => e.event.type === 'merge.recorded')!.event as any;
      const vsa = summaryOfEnvelope(envelopes[0]!)!;
      // Pull request 1 was squash-merged by Countersign: Bitbucket wrote a new commit, which the record keeps in full.
      const bitbucketMerge = world.repo.merges!.find((m) => m.pullRequest === 1)!;
      expect(bitbucketMerge).toMatchObject({ strategy: 'squash', commit: merged.facts.headCommit });
      expect(merged.mergeCommit).toBe(bitbucketMerge.mergeCommit);
      expect(merged.mergeCommit).toMatch(/^[0-9a-f]{40}$/);
      expect(merged.mergeCommit).not.toBe(merged.facts.headCommit);
      expect(vsa.subject[0]).toMatchObject({ digest: { gitCommit: merged.mergeCommit }, annotations: { source_refs: ['refs/heads/main'], sourceRefs: ['refs/heads/main'] } });
      expect(vsa.predicate['https://countersign.dev/verification_summary/merge/v1'].reviewedCommit).toBe(merged.facts.headCommit);
      expect(vsa.predicate.verificationResult).toBe('PASSED');
      // The author plus alice and bob, whose approvals counted: at least two distinct people.
      expect(vsa.predicate.verifiedLevels).toEqual([SLSA_SOURCE_TWO_PARTY_REVIEWED, COUNTERSIGN_QUORUM_MET]);
      expect(vsa.predicate['https://countersign.dev/verification_summary/merge/v1']).toMatchObject({ pullRequest: 1, author: PEOPLE.author, approvedBy: [PEOPLE.alice, PEOPLE.bob].sort() });
      expect(vsa.predicate.policy.digest?.sha256).toBe(merged.verdict.policy.hash.replace('sha256:', ''));
    });

    it('say FAILED, with no two-party claim, for the bypassed merge of pull request 2, naming the merge commit read back from the merged pull request', () => {
      const vsa = summaryOfEnvelope(envelopes[1]!)!;
      const bypassed = entries.find((e) => e.event.type === 'merge.bypassed')!.event as any;
      expect(bypassed.mergeCommit).toBe(mergeCommitOf(world.repo, world.repo.pullRequests.get(2)!));
      expect(vsa.subject[0]!.digest.gitCommit).toBe(bypassed.mergeCommit);
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

/**
 * A ledger that does not check out gets no export derived from it, and an older merge record gets no
 * summary of a subject it does not name. Storage is changed underneath, as by someone who can write
 * the app's storage (with or without its key), and put back after each test.
 */
describe('exportEvidence over a ledger that does not check out', () => {
  let run: World;
  let count: number;
  beforeAll(async () => {
    run = (await evidenceRun()).world;
    count = (await run.deps.ledger.readLedger(REPOSITORY)).length;
  });
  afterAll(() => run.dispose());

  const exportAs = (payload: Record<string, unknown>, pageSize?: number) =>
    run.host.actAs(PEOPLE.admin, () => exportEvidence(run.deps, payload, run.context(PEOPLE.admin, undefined), pageSize ? { pageSize } : {}));
  const callAs = (payload: Record<string, unknown>) => run.call('exportEvidence', PEOPLE.admin, payload, run.context(PEOPLE.admin, undefined));
  const entryKey = (seq: number) => storageKeys.ledgerEntry(REPOSITORY, seq);
  const stored = (seq: number) => run.host.kvs.peek(entryKey(seq), DOCUMENT_ENTITY) as { version: number; document: SignedLedgerEntry };

  /** Replaces entry `seq` in storage for the length of `body`. */
  async function withEntry(seq: number, change: (doc: ReturnType<typeof stored>) => unknown, body: () => Promise<void>) {
    const original = stored(seq);
    run.host.kvs.plant(entryKey(seq), change(structuredClone(original)), DOCUMENT_ENTITY);
    try {
      await body();
    } finally {
      run.host.kvs.plant(entryKey(seq), original, DOCUMENT_ENTITY);
    }
  }

  /** Entry `seq` written afresh with the app's own key: chained after `prev`, saying `event`. */
  async function forged(seq: number, prev: string, event: Record<string, unknown>): Promise<SignedLedgerEntry> {
    const entry = readEntry(stored(seq).document)!;
    return nextEntry({ seq: seq - 1, hash: prev }, { ledger: entry.ledger, at: entry.at, event: event as never }, await run.deps.ledger.appSigningKey());
  }

  it('checks out as it is: every format exports', async () => {
    for (const format of ['sigstore', 'vsa', 'csv']) expect(await callAs({ format })).toMatchObject({ ok: true });
  });

  it.each(['vsa', 'csv', 'sigstore'])('refuses a %s export over an entry whose app signature does not verify, naming the entry', async (format) => {
    await withEntry(3, (doc) => {
      const sig = Buffer.from(doc.document.envelope.signatures[0]!.sig, 'base64');
      sig[10]! ^= 0x01;
      doc.document.envelope.signatures[0]!.sig = sig.toString('base64');
      return doc;
    }, async () => {
      const signKey = jest.spyOn(run.deps.ledger, 'appSigningKey');
      try {
        expect(await callAs({ format })).toEqual({ ok: false, code: 'LEDGER_BROKEN', message: expect.stringContaining('Ledger entry 3 does not check out (BAD_SIGNATURE)') });
        // Nothing was signed over it.
        expect(signKey).not.toHaveBeenCalled();
      } finally {
        signKey.mockRestore();
      }
    });
  });

  it('refuses an entry re-signed with the app key but chained to something else, and a missing entry', async () => {
    const wrongPrev = await forged(5, 'f'.repeat(64), readEntry(stored(5).document)!.event);
    await withEntry(5, (doc) => ({ ...doc, document: wrongPrev }), async () => {
      expect(await callAs({ format: 'vsa' })).toEqual({ ok: false, code: 'LEDGER_BROKEN', message: expect.stringMatching(/^Ledger entry 5 does not check out \(BROKEN_CHAIN\).*countersign verify/) });
    });
    const original = stored(6);
    run.host.kvs.drop(entryKey(6), DOCUMENT_ENTITY);
    try {
      expect(await callAs({ format: 'csv' })).toEqual({ ok: false, code: 'LEDGER_BROKEN', message: expect.stringContaining('Ledger entry 7 does not check out (BAD_SEQUENCE): Expected seq 6 but found 7.') });
      // The last entry gone: the page ends short of the head it read.
      const last = stored(count);
      run.host.kvs.drop(entryKey(count), DOCUMENT_ENTITY);
      try {
        run.host.kvs.plant(entryKey(6), original, DOCUMENT_ENTITY);
        expect(await callAs({ format: 'csv' })).toEqual({ ok: false, code: 'LEDGER_BROKEN', message: expect.stringContaining('entries are missing') });
      } finally {
        run.host.kvs.plant(entryKey(count), last, DOCUMENT_ENTITY);
      }
    } finally {
      run.host.kvs.plant(entryKey(6), original, DOCUMENT_ENTITY);
    }
    expect(await callAs({ format: 'csv' })).toMatchObject({ ok: true });
  });

  it('chains each page to the one before: an entry changed between pages refuses the next page', async () => {
    const first = await exportAs({ format: 'vsa' }, 4);
    expect(first.nextCursor).toBeDefined();
    const entry4 = readEntry(stored(4).document)!;
    const changed = await forged(4, entry4.prev, { ...entry4.event, label: 'changed' });
    await withEntry(4, (doc) => ({ ...doc, document: changed }), async () => {
      await expect(exportAs({ format: 'vsa', cursor: first.nextCursor }, 4)).rejects.toMatchObject({
        code: 'LEDGER_BROKEN',
        message: expect.stringContaining('Ledger entry 4, which the previous page of this export ended with, is not the entry it was'),
      });
    });
    // Put back, the export carries on from where it was.
    expect((await exportAs({ format: 'vsa', cursor: first.nextCursor }, 4)).content).toBeDefined();
  });

  it('still exports the bundle as stored, so the verifier can name what is wrong', async () => {
    await withEntry(3, (doc) => {
      doc.document.envelope.signatures[0]!.sig = Buffer.alloc(64).toString('base64');
      return doc;
    }, async () => {
      const lines = (await exportAs({ format: 'bundle' })).content.split('\n').filter(Boolean);
      const report = await verifyEvidence(lines);
      expect(report).toMatchObject({ ok: false, problems: [expect.objectContaining({ seq: 3, code: 'BAD_SIGNATURE' })] });
    });
  });

  it('skips the summary of an older merge record that names no merge commit, and says so in the page', async () => {
    const merge = entriesOf(await evidenceBundle(run.deps.ledger, REPOSITORY, run.clock)).find((e) => e.event.type === 'merge.recorded')!;
    const { mergeCommit, ...older } = merge.event as Record<string, unknown>;
    expect(mergeCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(await run.deps.reevaluation.recordMerge(REPOSITORY, 42, run.clock.toISOString(), { ...older, subject: { ...(merge.event as any).subject, pullRequest: 42 } } as never)).toBe(true);
    try {
      const exported = await exportAs({ format: 'vsa' }, 5);
      let content = exported.content;
      const skipped = [...(exported.skipped ?? [])];
      for (let cursor = exported.nextCursor; cursor; ) {
        const next = await exportAs({ format: 'vsa', cursor }, 5);
        content += next.content;
        skipped.push(...(next.skipped ?? []));
        cursor = next.nextCursor;
      }
      const summaries = content.split('\n').filter(Boolean).map((line) => summaryOfEnvelope(JSON.parse(line))!);
      expect(summaries.map((v) => v.predicate['https://countersign.dev/verification_summary/merge/v1'].pullRequest)).toEqual([1, 2]);
      expect(skipped).toEqual([{ seq: count + 1, pullRequest: 42, code: 'MERGE_COMMIT_UNKNOWN', message: expect.stringContaining('no verification summary is made for it') }]);
      // Through the resolver too, as the audit page will read it.
      expect(await callAs({ format: 'vsa', pullRequest: 42 })).toMatchObject({ ok: true, data: { content: '', skipped: [{ pullRequest: 42 }] } });
    } finally {
      count = (await run.deps.ledger.readLedger(REPOSITORY)).length;
    }
  });

  it('refuses an app-signed, chained entry whose event is not in the shape it reads, with MALFORMED_ENTRY and where', async () => {
    const merge = entriesOf(await evidenceBundle(run.deps.ledger, REPOSITORY, run.clock)).find((e) => e.event.type === 'merge.recorded')!;
    const { facts: _facts, ...withoutFacts } = merge.event as Record<string, unknown>;
    expect(await run.deps.reevaluation.recordMerge(REPOSITORY, 41, run.clock.toISOString(), { ...withoutFacts, subject: { ...(merge.event as any).subject, pullRequest: 41 } } as never)).toBe(true);
    try {
      for (const format of ['vsa', 'csv']) {
        expect(await callAs({ format })).toEqual({
          ok: false,
          code: 'MALFORMED_ENTRY',
          message: expect.stringMatching(new RegExp(`^Ledger entry ${count + 1} \\(merge\\.recorded\\) is not in the shape this version of Countersign reads \\(facts .*\\)`)),
        });
      }
      // Filtered to another pull request, the page does not export from it.
      expect(await callAs({ format: 'csv', pullRequest: 1 })).toMatchObject({ ok: true });
    } finally {
      count = (await run.deps.ledger.readLedger(REPOSITORY)).length;
    }
  });
});
