import { createHash } from 'node:crypto';
import { encodeBase64, LEDGER_PAYLOAD_TYPE, pae, policyHash, readEntry, signWithAppKey, type LedgerEntry, type SignedLedgerEntry } from '../../src/core';
import { EvidenceVerifier, verifyEvidence, type EvidenceProblemCode, type EvidenceReport } from '../../src/core/evidence';
import { aSigner, PEOPLE, REPOSITORY } from '../fixtures/world';
import { entriesOf, evidenceRun, insiderKey, resign, type InsiderKey } from '../fixtures/evidenceRun';

/** Evidence bundles from a real run: what verifies, and how every kind of tampering is named. */
let lines: string[];
let entries: LedgerEntry[];
let appKeyId: string;
let insider: InsiderKey;

beforeAll(async () => {
  const run = await evidenceRun();
  lines = run.lines;
  entries = entriesOf(lines);
  appKeyId = (await run.world.deps.ledger.appPublicKey()).keyId;
  run.world.dispose();
  insider = await insiderKey();
});

async function verify(bundle: string[], trusted?: string[]): Promise<EvidenceReport> {
  const report = await verifyEvidence(bundle, trusted ? { trustedAppKeyIds: trusted } : {});
  if ('error' in report) throw new Error(report.error);
  return report;
}

const codesAt = (report: EvidenceReport, seq: number) => report.problems.filter((p) => p.seq === seq).map((p) => p.code);
const seqOf = (type: string, nth = 0) => entries.filter((e) => e.event.type === type)[nth]!.seq;
const line = (seq: number) => seq; // entry seq n is on line n + 1, index n of the lines array

function expectFailure(report: EvidenceReport, seq: number, code: EvidenceProblemCode, text?: RegExp): void {
  expect(report.ok).toBe(false);
  expect(codesAt(report, seq)).toContain(code);
  const problem = report.problems.find((p) => p.seq === seq && p.code === code)!;
  expect(problem.message).toMatch(new RegExp(`Entry ${seq}\\b`));
  if (text) expect(problem.message).toMatch(text);
}

/** Rewrites an entry's payload in place, as someone without the app key could: the old signature and hash stay. */
function editPayload(bundle: string[], seq: number, change: (entry: LedgerEntry) => void): string[] {
  const copy = [...bundle];
  const signed = JSON.parse(copy[line(seq)]!) as SignedLedgerEntry;
  const entry = readEntry(signed)!;
  change(entry);
  signed.envelope.payload = Buffer.from(JSON.stringify(entry)).toString('base64');
  copy[line(seq)] = JSON.stringify(signed);
  return copy;
}

describe('a bundle from a real run', () => {
  it('holds two policy versions, three keys, a revocation, decisions, an auto-merge and a bypass, and verifies', async () => {
    const report = await verify(lines, [appKeyId]);
    expect(report).toMatchObject({
      ok: true,
      ledger: REPOSITORY,
      entries: entries.length,
      head: { seq: entries.length },
      counts: { decisions: 3, keys: 3, revocations: 1, policies: 2, merges: 2, bypassed: 1, autoMerges: 1 },
      problems: [],
    });
    expect(report.merges).toEqual([
      expect.objectContaining({ type: 'merge.recorded', pullRequest: 1, pass: true, reproduced: true }),
      expect.objectContaining({ type: 'merge.bypassed', pullRequest: 2, pass: false, reproduced: true }),
    ]);
    // A bypass is flagged, not a failure; with the app key pinned, nothing else is said.
    expect(report.notices.map((n) => [n.code, n.seq])).toEqual([['MERGE_BYPASSED', seqOf('merge.bypassed')]]);
  });

  it('carries every policy version and approver key in its entries, under the app signature', () => {
    const policies = entries.filter((e) => e.event.type === 'policy.saved').map((e) => (e.event as any).policy);
    expect(policies.map((p) => p.version)).toEqual([1, 2]);
    const decisions = entries.filter((e) => e.event.type === 'decision.accepted').map((e) => e.event as any);
    for (const d of decisions) {
      const statement = JSON.parse(Buffer.from(d.envelope.payload, 'base64').toString());
      expect(policies.map((p) => p.hash)).toContain(statement.predicate.policy);
      const enrolment = entries.find((e) => e.event.type === 'key.enrolled' && (e.event as any).keyId === d.keyId)!.event as any;
      expect(enrolment.publicKey).toEqual(d.publicKey);
    }
  });

  it('says the app key was only taken from the bundle when none is pinned', async () => {
    const report = await verify(lines);
    expect(report.ok).toBe(true);
    expect(report.notices.map((n) => n.code)).toContain('APP_KEY_NOT_PINNED');
  });

  it('verifies when re-signed faithfully with another key (the control for the insider cases below)', async () => {
    expect((await verify(await resign(entries, insider), [insider.signing.keyId])).ok).toBe(true);
  });
});

describe('tampering without the app key', () => {
  it('an edited event: its signature and stored hash fail, and the next entry no longer chains', async () => {
    const seq = seqOf('decision.accepted');
    const report = await verify(editPayload(lines, seq, (e) => ((e.event as any).decision = 'reject')));
    expectFailure(report, seq, 'BAD_SIGNATURE');
    expect(codesAt(report, seq)).toContain('HASH_MISMATCH');
    expectFailure(report, seq + 1, 'BROKEN_CHAIN');
  });

  it('a deleted entry: the next one is out of sequence and the count is short', async () => {
    const seq = seqOf('key.revoked');
    const report = await verify(lines.filter((_, i) => i !== line(seq)));
    expectFailure(report, seq + 1, 'BAD_SEQUENCE', new RegExp(`Expected seq ${seq} but found ${seq + 1}`));
    expect(report.problems.map((p) => p.code)).toContain('TRUNCATED');
  });

  it('two entries swapped: both are named', async () => {
    const a = seqOf('decision.accepted');
    const copy = [...lines];
    [copy[line(a)], copy[line(a + 1)]] = [copy[line(a + 1)]!, copy[line(a)]!];
    const report = await verify(copy);
    expectFailure(report, a + 1, 'BAD_SEQUENCE');
    expectFailure(report, a, 'BAD_SEQUENCE');
  });

  it('a forged entry inserted, chained correctly but signed with another key', async () => {
    const after = seqOf('key.revoked');
    const forged = { ledger: REPOSITORY, seq: after + 1, prev: (JSON.parse(lines[line(after)]!) as SignedLedgerEntry).hash, at: entries[after - 1]!.at, event: { type: 'key.enrolled', accountId: PEOPLE.outsider } };
    const bytes = new TextEncoder().encode(JSON.stringify(forged));
    const sig = await signWithAppKey(insider.signing, pae(LEDGER_PAYLOAD_TYPE, bytes));
    const signed = { hash: createHash('sha256').update(bytes).digest('hex'), envelope: { payloadType: LEDGER_PAYLOAD_TYPE, payload: encodeBase64(bytes), signatures: [{ keyid: insider.signing.keyId, sig: encodeBase64(sig) }] } };
    const copy = [...lines];
    copy.splice(line(after) + 1, 0, JSON.stringify(signed));
    const report = await verify(copy);
    expectFailure(report, after + 1, 'UNKNOWN_APP_KEY');
  });

  it('the app key swapped in the header: every entry fails', async () => {
    const header = JSON.parse(lines[0]!);
    header.appKeys = [{ keyId: insider.signing.keyId, publicJwk: insider.publicJwk }];
    const report = await verify([JSON.stringify(header), ...lines.slice(1)]);
    for (const e of entries) expect(codesAt(report, e.seq)).toContain('UNKNOWN_APP_KEY');
  });

  it('the app key swapped and every entry re-signed: caught only by pinning the app key', async () => {
    const forged = await resign(entries, insider);
    const report = await verify(forged, [appKeyId]);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ line: 1, code: 'UNTRUSTED_APP_KEY' });
  });

  it('a policy version replaced: its signature fails', async () => {
    const seq = seqOf('policy.saved');
    const report = await verify(editPayload(lines, seq, (e) => ((e.event as any).policy.rules[0].requirements[0].count = 1)));
    expectFailure(report, seq, 'BAD_SIGNATURE');
  });

  it('a line that is not JSON, and a header that is not one', async () => {
    const copy = [...lines];
    copy[3] = '{"hash":';
    expectFailure(await verify(copy), 3, 'NOT_JSON');
    expect(await verifyEvidence(['{"format":"countersign-evidence","version":3}'])).toEqual({ error: expect.stringContaining('format version 3') });
    expect(await verifyEvidence(lines.slice(1))).toEqual({ error: expect.stringContaining('not a countersign-evidence version 2 header') });
    expect(await verifyEvidence([])).toEqual({ error: expect.stringContaining('empty') });
  });
});

describe('tampering by someone holding an app key (every entry re-signed and re-chained)', () => {
  const events = () => entries.map(({ ledger, at, event }) => ({ ledger, at, event: structuredClone(event) }));
  const rebuilt = async (change: (list: ReturnType<typeof events>) => void) => {
    const list = events();
    change(list);
    return verify(await resign(list, insider), [insider.signing.keyId]);
  };

  it('a key revoked before an approval signed with it: that approval is refused, and the merge no longer holds', async () => {
    const decision = seqOf('decision.accepted'); // alice's
    const alice = entries[decision - 1]!.event as any;
    const report = await rebuilt((list) => list.splice(decision - 1, 0, { ledger: REPOSITORY, at: list[decision - 1]!.at, event: { type: 'key.revoked', accountId: alice.signer, keyId: alice.keyId, revokedBy: alice.signer, scope: 'everywhere' } }));
    expectFailure(report, decision + 1, 'KEY_REVOKED', /revoked at entry \d+/);
    expectFailure(report, seqOf('merge.recorded') + 1, 'MERGE_VERDICT', /quorum was met, but re-running it .* says not met/);
  });

  it('an approver key swapped in a decision: the enrolled key is not the one it was checked with', async () => {
    const seq = seqOf('decision.accepted');
    const other = await aSigner(PEOPLE.alice);
    const report = await rebuilt((list) => ((list[seq - 1]!.event as any).publicKey = other.publicKey));
    expectFailure(report, seq, 'KEY_MISMATCH');
  });

  it("an approver's statement changed: the approver's signature fails", async () => {
    const seq = seqOf('decision.accepted', 2);
    const report = await rebuilt((list) => {
      const envelope = (list[seq - 1]!.event as any).envelope;
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
      statement.predicate.decision = 'reject';
      envelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
      (list[seq - 1]!.event as any).decision = 'reject';
    });
    expectFailure(report, seq, 'APPROVER_SIGNATURE');
  });

  it('a policy version replaced, keeping its hash: the hash gives it away', async () => {
    const seq = seqOf('policy.saved');
    const report = await rebuilt((list) => ((list[seq - 1]!.event as any).policy.rules[0].requirements[0].count = 1));
    expectFailure(report, seq, 'POLICY_HASH');
  });

  it('a policy version replaced with a hash of its own: decisions name a version not in force, and the next save does not follow it', async () => {
    const seq = seqOf('policy.saved');
    const replaced = structuredClone((entries[seq - 1]!.event as any).policy);
    replaced.rules[0].requirements[0].count = 1;
    replaced.hash = await policyHash(replaced.version, replaced.rules);
    const report = await rebuilt((list) => ((list[seq - 1]!.event as any).policy = replaced));
    expectFailure(report, seqOf('decision.accepted'), 'POLICY_NOT_IN_FORCE', /version in force when it was accepted was 1 \(sha256:/);
    expectFailure(report, seqOf('policy.saved', 1), 'POLICY_ORDER');
  });

  it('a decision the merge counted deleted: the re-run quorum disagrees with the record', async () => {
    const bob = seqOf('decision.accepted', 2);
    const report = await rebuilt((list) => list.splice(bob - 1, 1));
    expectFailure(report, seqOf('merge.recorded') - 1, 'MERGE_VERDICT', /Maintainers 1 of 2/);
  });

  it("a merge record's merge commit that is not a full commit hash is malformed; one written before it was kept (none) still verifies", async () => {
    const seq = seqOf('merge.recorded');
    expect((entries[seq - 1]!.event as any).mergeCommit).toMatch(/^[0-9a-f]{40}$/);
    const short = await rebuilt((list) => ((list[seq - 1]!.event as any).mergeCommit = (entries[seq - 1]!.event as any).mergeCommit.slice(0, 12)));
    expectFailure(short, seq, 'MALFORMED_EVENT', /mergeCommit/);
    const older = await rebuilt((list) => delete (list[seq - 1]!.event as any).mergeCommit);
    expect(older).toMatchObject({ ok: true, problems: [] });
  });

  it('a bypass rewritten as an allowed merge', async () => {
    const seq = seqOf('merge.bypassed');
    const report = await rebuilt((list) => {
      const event = list[seq - 1]!.event as any;
      Object.assign(event, { type: 'merge.recorded', bypassed: false, verdict: { ...event.verdict, pass: true } });
    });
    expectFailure(report, seq, 'MERGE_VERDICT', /says not met/);
    expect(report.notices.map((n) => n.code)).not.toContain('MERGE_BYPASSED');
  });
});

describe('EvidenceVerifier', () => {
  it('reports a truncated tail against the head the header names', async () => {
    const header = JSON.parse(lines[0]!);
    header.entries -= 1;
    const report = await verify([JSON.stringify(header), ...lines.slice(1, -1)]);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'TRUNCATED', message: expect.stringContaining('cut or extended') })]);
  });

  it('refuses a header whose key id is not its key', async () => {
    const header = JSON.parse(lines[0]!);
    header.appKeys[0].keyId = insider.signing.keyId;
    const opened = await EvidenceVerifier.open(JSON.stringify(header));
    expect(opened).toBeInstanceOf(EvidenceVerifier);
    const report = await (opened as EvidenceVerifier).finish();
    expect(report.problems[0]).toMatchObject({ line: 1, code: 'BAD_HEADER' });
  });
});
