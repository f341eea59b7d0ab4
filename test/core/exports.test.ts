import { createPublicKey, verify } from 'node:crypto';
import {
  COUNTERSIGN_MERGE_BYPASSED,
  COUNTERSIGN_QUORUM_MET,
  csvCell,
  csvCellsOf,
  csvRow,
  matchesFilter,
  pae,
  reviewParties,
  signVerificationSummary,
  SLSA_SOURCE_TWO_PARTY_REVIEWED,
  summaryOfEnvelope,
  twoPartyReviewed,
  VERIFICATION_SUMMARY_V1,
  verificationSummaryOf,
  type LedgerEntry,
  type MergeEntry,
  type MergeRecord,
  type VerificationSummary,
} from '../../src/core';
import { insiderKey } from '../fixtures/evidenceRun';

const COMMIT = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const MERGED = 'e'.repeat(40);

/** A key id in the RFC 7638 shape (43 base64url characters), one a person. */
const keyIdOf = (who: string) => (who + '-'.repeat(43)).slice(0, 43);

function aMerge(overrides: { counted?: Partial<MergeRecord['counted'][number]>[]; commitAuthors?: string[]; pass?: boolean; bypassed?: boolean; type?: MergeEntry['event']['type']; mergeCommit?: string | null } = {}): MergeEntry {
  const pass = overrides.pass ?? true;
  const bypassed = overrides.bypassed ?? false;
  const counted = (overrides.counted ?? [{ signer: 'alice' }]).map((c) => ({ signer: 'alice', keyId: keyIdOf(c.signer ?? 'alice'), decision: 'approve' as const, commit: COMMIT, policy: 'sha256:' + '1'.repeat(64), seq: 1, entry: 7, ...c }));
  return {
    seq: 12,
    at: '2026-11-22T10:00:00.000Z',
    hash: 'c'.repeat(64),
    event: {
      type: overrides.type ?? (bypassed ? 'merge.bypassed' : 'merge.recorded'),
      subject: { kind: 'pull-request', workspace: '{11111111-1111-1111-1111-111111111111}', repository: '{22222222-2222-2222-2222-222222222222}', pullRequest: 3, commit: COMMIT, targetBranch: 'main' },
      mergedBy: 'bitbucket',
      bypassed,
      verdict: { gated: true, pass, message: pass ? 'Quorum met' : 'Needs 1 more', policy: { version: 2, hash: 'sha256:' + 'd'.repeat(64) } },
      facts: { author: 'author', sourceBranch: 'feature', targetBranch: 'main', headCommit: COMMIT, commitAuthors: overrides.commitAuthors ?? ['author'], state: 'MERGED' },
      counted,
      ...(overrides.mergeCommit === null ? {} : { mergeCommit: overrides.mergeCommit ?? MERGED }),
    },
  };
}

/** The summary of a merge that has one. */
function summaryOf(merge: MergeEntry): VerificationSummary {
  const made = verificationSummaryOf(merge);
  if (!('summary' in made)) throw new Error(`no summary: ${made.skipped.message}`);
  return made.summary;
}

describe('SLSA two-party review', () => {
  it('holds for the author and one approver who counted, on the merged commit', () => {
    expect(reviewParties(aMerge().event)).toEqual(['alice', 'author']);
    expect(twoPartyReviewed(aMerge().event)).toBe(true);
  });

  it('holds for two reviewers other than the author', () => {
    expect(twoPartyReviewed(aMerge({ counted: [{ signer: 'alice' }, { signer: 'bob' }] }).event)).toBe(true);
  });

  it('does not hold when the only approval is by the author, or by someone who wrote one of the commits', () => {
    expect(twoPartyReviewed(aMerge({ counted: [{ signer: 'author' }] }).event)).toBe(false);
    expect(twoPartyReviewed(aMerge({ counted: [{ signer: 'alice' }], commitAuthors: ['author', 'alice'] }).event)).toBe(false);
  });

  it('does not count a rejection, an approval of another commit, an unmet quorum or a bypass', () => {
    expect(twoPartyReviewed(aMerge({ counted: [{ signer: 'alice', decision: 'reject' }] }).event)).toBe(false);
    expect(twoPartyReviewed(aMerge({ counted: [{ signer: 'alice', commit: OTHER }] }).event)).toBe(false);
    expect(twoPartyReviewed(aMerge({ pass: false }).event)).toBe(false);
    expect(twoPartyReviewed(aMerge({ bypassed: true, pass: false }).event)).toBe(false);
    expect(twoPartyReviewed(aMerge({ counted: [] }).event)).toBe(false);
  });
});

describe('verificationSummaryOf', () => {
  it('names the commit the merge wrote by gitCommit, on its fully qualified target ref, with the policy and the result', () => {
    const vsa = summaryOf(aMerge());
    expect(vsa._type).toBe('https://in-toto.io/Statement/v1');
    expect(vsa.predicateType).toBe(VERIFICATION_SUMMARY_V1);
    const repo = 'bitbucket.org/%7B11111111-1111-1111-1111-111111111111%7D/%7B22222222-2222-2222-2222-222222222222%7D';
    expect(vsa.subject).toEqual([
      {
        name: `git+https://${repo}@refs/heads/main`,
        uri: `https://${repo}/commits/${MERGED}`,
        digest: { gitCommit: MERGED },
        annotations: { source_refs: ['refs/heads/main'], sourceRefs: ['refs/heads/main'] },
      },
    ]);
    // The reviewed head is named beside it, not as the subject.
    expect(vsa.predicate['https://countersign.dev/verification_summary/merge/v1'].reviewedCommit).toBe(COMMIT);
    expect(vsa.predicate).toMatchObject({
      verifier: { id: 'https://countersign.dev/verifier/v1' },
      timeVerified: '2026-11-22T10:00:00.000Z',
      resourceUri: 'git+https://bitbucket.org/%7B11111111-1111-1111-1111-111111111111%7D/%7B22222222-2222-2222-2222-222222222222%7D',
      policy: { uri: 'urn:countersign:policy:22222222-2222-2222-2222-222222222222:2', digest: { sha256: 'd'.repeat(64) } },
      inputAttestations: [{ uri: 'urn:countersign:ledger:22222222-2222-2222-2222-222222222222:12', digest: { sha256: 'c'.repeat(64) } }],
      verificationResult: 'PASSED',
      verifiedLevels: [SLSA_SOURCE_TWO_PARTY_REVIEWED, COUNTERSIGN_QUORUM_MET],
    });
    // Custom levels must not take SLSA's prefix; no source level is claimed.
    expect(vsa.predicate.verifiedLevels.filter((l) => l.startsWith('SLSA_'))).toEqual([SLSA_SOURCE_TWO_PARTY_REVIEWED]);
  });

  it('passes without TWO_PARTY when the quorum was met by one person who is not a second party', () => {
    const vsa = summaryOf(aMerge({ counted: [{ signer: 'author' }] }));
    expect(vsa.predicate.verificationResult).toBe('PASSED');
    expect(vsa.predicate.verifiedLevels).toEqual([COUNTERSIGN_QUORUM_MET]);
  });

  it('fails a bypassed merge, saying so', () => {
    const vsa = summaryOf(aMerge({ bypassed: true, pass: false }));
    expect(vsa.predicate.verificationResult).toBe('FAILED');
    expect(vsa.predicate.verifiedLevels).toEqual(['FAILED', COUNTERSIGN_MERGE_BYPASSED]);
  });

  it('is skipped, saying why, for an older merge record that does not name the commit the merge wrote', () => {
    const made = verificationSummaryOf(aMerge({ mergeCommit: null }));
    expect(made).toEqual({
      skipped: { seq: 12, pullRequest: 3, code: 'MERGE_COMMIT_UNKNOWN', message: expect.stringContaining('no verification summary is made for it') },
    });
    expect(made).not.toHaveProperty('summary');
  });

  it('is signed by the app key over DSSE PAE, and any changed payload byte breaks the signature', async () => {
    const key = await insiderKey();
    const envelope = await signVerificationSummary(summaryOf(aMerge()), key.signing);
    expect(envelope.signatures).toEqual([{ keyid: key.signing.keyId, sig: expect.any(String) }]);
    expect(summaryOfEnvelope(envelope)?.subject[0]!.digest.gitCommit).toBe(MERGED);
    const publicKey = createPublicKey({ key: { ...key.publicJwk }, format: 'jwk' });
    const check = (payload: Buffer) => verify(null, pae(envelope.payloadType, payload), publicKey, Buffer.from(envelope.signatures[0]!.sig, 'base64'));
    const payload = Buffer.from(envelope.payload, 'base64');
    expect(check(payload)).toBe(true);
    for (const index of [0, Math.floor(payload.length / 2), payload.length - 1]) {
      const changed = Buffer.from(payload);
      changed[index]! ^= 0x01;
      expect(check(changed)).toBe(false);
    }
  });
});

describe('CSV', () => {
  it('quotes per RFC 4180: commas, quotes and line breaks; rows end in CRLF', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('cr\rhere')).toBe('"cr\rhere"');
    expect(csvCell(null)).toBe('');
    expect(csvCell(42)).toBe('42');
    expect(csvRow(['a', 'b,c', null])).toBe('a,"b,c",\r\n');
  });

  it.each(['=1+1', '+SUM(A1)', '-2+3', '@cmd', '\tx', '\rx'])('defuses a cell a spreadsheet would run as a formula: %j', (cell) => {
    const out = csvCell(cell);
    expect(out.replace(/^"/, '').startsWith("'")).toBe(true);
    expect(out.replace(/^"|"$/g, '').slice(1)).toBe(cell);
  });

  it('defuses and quotes together, and leaves an inner = alone', () => {
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(csvCell('a=b')).toBe('a=b');
  });

  it('gives a merge row its pull request, commit, merger, outcome and policy version', () => {
    const merge = aMerge();
    const entry = { ledger: 'r', seq: merge.seq, prev: '0'.repeat(64), at: merge.at, event: merge.event } as unknown as LedgerEntry;
    expect(csvCellsOf(entry, merge.hash)).toEqual([12, merge.at, 'merge.recorded', 3, COMMIT, 'bitbucket', 'quorum met', '', 2, merge.hash]);
  });

  it('reads the entry with the evidence schemas: a malformed one is refused with its seq and what is wrong, an unknown type gets a bare row', () => {
    const merge = aMerge();
    const broken = { ledger: 'r', seq: 12, prev: '0'.repeat(64), at: merge.at, event: { ...merge.event, facts: { ...merge.event.facts, headCommit: 'abc' } } } as unknown as LedgerEntry;
    expect(() => csvCellsOf(broken, merge.hash)).toThrow(expect.objectContaining({ code: 'MALFORMED_ENTRY', message: expect.stringContaining('Ledger entry 12 (merge.recorded) is not in the shape this version of Countersign reads (facts.headCommit must be a full 40-hex commit hash)') }));
    const later = { ledger: 'r', seq: 13, prev: '0'.repeat(64), at: merge.at, event: { type: 'appkey.rotated', keyId: 'x' } } as unknown as LedgerEntry;
    expect(csvCellsOf(later, merge.hash)).toEqual([13, merge.at, 'appkey.rotated', null, '', '', '', '', null, merge.hash]);
  });
});

describe('matchesFilter', () => {
  const entry = (at: string, pullRequest?: number) =>
    ({ ledger: 'r', seq: 1, prev: '0'.repeat(64), at, event: pullRequest ? { type: 'automerge.attempted', subject: { pullRequest } } : { type: 'policy.saved' } }) as unknown as LedgerEntry;

  it('keeps entries of the pull request, from and to both inclusive', () => {
    expect(matchesFilter(entry('2026-11-22T10:00:00.000Z', 3), { pullRequest: 3 })).toBe(true);
    expect(matchesFilter(entry('2026-11-22T10:00:00.000Z', 4), { pullRequest: 3 })).toBe(false);
    expect(matchesFilter(entry('2026-11-22T10:00:00.000Z'), { pullRequest: 3 })).toBe(false);
    expect(matchesFilter(entry('2026-11-22T10:00:00.000Z'), { from: '2026-11-22T10:00:00.000Z' })).toBe(true);
    expect(matchesFilter(entry('2026-11-22T09:59:59.999Z'), { from: '2026-11-22T10:00:00.000Z' })).toBe(false);
    expect(matchesFilter(entry('2026-11-22T10:00:00.000Z'), { to: '2026-11-22T10:00:00.000Z' })).toBe(true);
    expect(matchesFilter(entry('2026-11-22T10:00:00.001Z'), { to: '2026-11-22T10:00:00.000Z' })).toBe(false);
    expect(matchesFilter(entry('2026-11-22T09:59:59.999Z'), { to: '2026-11-22T10:00:00.000Z' })).toBe(true);
  });
});
