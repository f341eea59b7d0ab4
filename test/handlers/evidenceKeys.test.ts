import { nextEntry, readEntry, signKeyRoster, type AppSigningKey, type Envelope, type KeyRoster, type LedgerEntry, type SignedLedgerEntry } from '../../src/core';
import { verifyEvidence, type EvidenceProblemCode, type EvidenceReport } from '../../src/core/evidence';
import { evidenceBundle } from '../../src/handlers/evidence';
import { reevaluate } from '../../src/handlers/reevaluate';
import { aRule, aSigner, PEOPLE, REPOSITORY, WORKSPACE, World, type Signer } from '../fixtures/world';

/**
 * Keys from other ledgers in an evidence bundle: alice enrols her key from another repository of the
 * workspace (so its ledger records it), approves pull request 1 here with bob, revokes her key
 * everywhere, again from the other repository, two minutes later; then the pull request is
 * merged, and the gate, which no longer counts her approval, says no (a merge.bypassed). Only the
 * bundle's key section tells a verifier why: alice's enrolment and revocation are in no entry here.
 */
let world: World;
let lines: string[];
let alice: Signer;
let appKey: AppSigningKey;
const ELSEWHERE = '{44444444-4444-4444-8444-444444444444}';

beforeAll(async () => {
  world = new World();
  world.host.bitbucket.addRepository({ uuid: ELSEWHERE, slug: 'billing', workspace: { uuid: WORKSPACE, slug: 'acme' }, permissions: { [PEOPLE.alice]: 'write' } });
  await world.savePolicy([aRule()]);
  const elsewhere = (accountId: string) => world.context(accountId, undefined, ELSEWHERE);
  alice = await aSignerEnrolledElsewhere();
  const bob = await world.enrolledSigner(PEOPLE.bob);
  expect(await world.sign(alice)).toMatchObject({ ok: true });
  expect(await world.sign(bob)).toMatchObject({ ok: true });
  world.clock = new Date(world.clock.getTime() + 120_000);
  expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId }, elsewhere(PEOPLE.alice))).toMatchObject({ ok: true, data: { repository: null } });
  await world.settle();
  world.clock = new Date(world.clock.getTime() + 120_000);
  world.pr.state = 'MERGED';
  await reevaluate(world.deps, { workspace: WORKSPACE, repository: REPOSITORY, pullRequest: 1 });
  lines = await evidenceBundle(world.deps.ledger, REPOSITORY, world.clock);
  appKey = await world.deps.ledger.appSigningKey();

  async function aSignerEnrolledElsewhere(): Promise<Signer> {
    const signer = await aSigner(PEOPLE.alice);
    const enrolled = await world.call('enrollKey', PEOPLE.alice, { publicKey: signer.publicKey, label: 'Laptop' }, elsewhere(PEOPLE.alice));
    expect(enrolled).toMatchObject({ ok: true });
    return signer;
  }
});

afterAll(() => world.dispose());

interface Header {
  keys: { roster: Envelope; events: SignedLedgerEntry[] };
  [field: string]: unknown;
}

const header = (bundle: string[]): Header => JSON.parse(bundle[0]!);
const rosterOf = (h: Header): KeyRoster => JSON.parse(Buffer.from(h.keys.roster.payload, 'base64').toString('utf8'));
const withHeader = (bundle: string[], h: Header) => [JSON.stringify(h), ...bundle.slice(1)];
const eventsOf = (h: Header) => h.keys.events.map((e) => readEntry(e)!);

async function verify(bundle: string[]): Promise<EvidenceReport> {
  const report = await verifyEvidence(bundle);
  if ('error' in report) throw new Error(report.error);
  return report;
}

function expectProblem(report: EvidenceReport, code: EvidenceProblemCode, text: RegExp): void {
  expect(report.ok).toBe(false);
  expect(report.problems).toContainEqual(expect.objectContaining({ code, message: expect.stringMatching(text) }));
}

/** What someone holding the app key could write: an entry of another ledger re-signed with changes, and the roster re-signed to name it. */
async function forged(change: (entry: LedgerEntry) => Pick<LedgerEntry, 'at' | 'event'>, which: 'key.enrolled' | 'key.revoked'): Promise<string[]> {
  const h = header(lines);
  const index = eventsOf(h).findIndex((e) => e.event.type === which);
  const old = eventsOf(h)[index]!;
  const next = await nextEntry(old.seq > 1 ? { seq: old.seq - 1, hash: old.prev } : undefined, { ledger: old.ledger, ...change(old) }, appKey);
  const oldHash = h.keys.events[index]!.hash;
  h.keys.events[index] = next;
  const roster = rosterOf(h);
  const swap = (ref: { hash: string } | null) => (ref?.hash === oldHash ? { ...ref, hash: next.hash } : ref);
  const keys = roster.keys.map((k) => ({ ...k, enrolment: swap(k.enrolment) as typeof k.enrolment, revocations: k.revocations.map((r) => ({ ...r, entry: swap(r.entry) as typeof r.entry })) }));
  h.keys.roster = await signKeyRoster({ ...roster, keys }, appKey);
  return withHeader(lines, h);
}

const decisionOf = (signer: string) => lines.slice(1).map((l) => readEntry(JSON.parse(l))!).find((e) => e.event.type === 'decision.accepted' && e.event.signer === signer)!;

describe('an evidence bundle whose keys were enrolled and revoked in another ledger', () => {
  it("carries the other repository's ledger entries that enrolled and revoked the key, named by the roster, and verifies with the merge re-run against that revocation", async () => {
    const h = header(lines);
    expect(h.version).toBe(2);
    const events = eventsOf(h);
    expect(events.map((e) => [e.ledger, e.event.type])).toEqual([
      [ELSEWHERE, 'key.enrolled'],
      [ELSEWHERE, 'key.revoked'],
    ]);
    const roster = rosterOf(h);
    expect(roster).toMatchObject({ ledger: REPOSITORY, head: h.head });
    const aliceKey = roster.keys.find((k) => k.accountId === PEOPLE.alice)!;
    expect(aliceKey.enrolment).toEqual({ ledger: ELSEWHERE, seq: events[0]!.seq, hash: h.keys.events[0]!.hash });
    expect(aliceKey.revocations).toEqual([{ revokedAt: expect.any(String), entry: { ledger: ELSEWHERE, seq: events[1]!.seq, hash: h.keys.events[1]!.hash } }]);
    expect(roster.keys.find((k) => k.accountId === PEOPLE.bob)!.enrolment).toMatchObject({ ledger: REPOSITORY });

    const report = await verify(lines);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.counts).toMatchObject({ decisions: 2, keys: 1, keyEvents: 2, merges: 1, bypassed: 1 });
    expect(report.merges).toEqual([expect.objectContaining({ type: 'merge.bypassed', pullRequest: 1, pass: false, reproduced: true })]);
    expect(report.notices.map((n) => n.code)).not.toContain('KEY_NOT_IN_BUNDLE');
  });

  it('costs the export one KVS query for the keys used and two batches (their records, then the entries of other ledgers)', async () => {
    world.host.resetCalls();
    const { keys, events } = await world.deps.ledger.keyEvidence(REPOSITORY);
    expect(keys).toHaveLength(2);
    expect(events).toHaveLength(2);
    expect(world.host.calls.kvs).toEqual([expect.stringContaining('query'), '/api/v1/batch/get', '/api/v1/batch/get']);
  });

  it('a foreign entry left out of the key section is named as missing', async () => {
    for (const type of ['key.enrolled', 'key.revoked']) {
      const h = header(lines);
      h.keys.events = h.keys.events.filter((e) => readEntry(e)!.event.type !== type);
      const report = await verify(withHeader(lines, h));
      expectProblem(report, 'KEY_EVENT_MISSING', new RegExp(`as the ${type === 'key.enrolled' ? 'enrolment' : 'revocation'} of key ${alice.keyId} of ${PEOPLE.alice}`));
    }
  });

  it('a roster with the revocation taken out, not signed again, fails its signature', async () => {
    const h = header(lines);
    const roster = rosterOf(h);
    const edited = { ...roster, keys: roster.keys.map((k) => ({ ...k, revocations: [] })) };
    h.keys.roster = { ...h.keys.roster, payload: Buffer.from(JSON.stringify(edited)).toString('base64') };
    h.keys.events = h.keys.events.filter((e) => readEntry(e)!.event.type !== 'key.revoked');
    expectProblem(await verify(withHeader(lines, h)), 'KEY_ROSTER', /app signature .* does not verify/);
  });

  it("a roster from another export (an earlier head) is not this bundle's", async () => {
    const h = header(lines);
    const roster = rosterOf(h);
    h.keys.roster = await signKeyRoster({ ...roster, head: { seq: roster.head!.seq - 1, hash: roster.head!.hash } }, appKey);
    expectProblem(await verify(withHeader(lines, h)), 'KEY_ROSTER', /belongs to another export/);
  });

  it('a foreign entry changed in place, or one the roster does not name, is refused', async () => {
    const h = header(lines);
    const [enrolment] = h.keys.events;
    const bytes = Buffer.from(enrolment!.envelope.payload, 'base64');
    const at = bytes.indexOf(Buffer.from('Laptop'));
    bytes[at] = bytes[at]! ^ 0x01;
    h.keys.events[0] = { ...enrolment!, envelope: { ...enrolment!.envelope, payload: bytes.toString('base64') } };
    const changed = await verify(withHeader(lines, h));
    expectProblem(changed, 'KEY_EVENT', /Key event 1 in the header is not a genuine ledger entry/);
    expectProblem(changed, 'KEY_EVENT_MISSING', /as the enrolment of key/);

    const extra = header(lines);
    const own = JSON.parse(lines[1]!) as SignedLedgerEntry;
    extra.keys.events.push(own);
    expectProblem(await verify(withHeader(lines, extra)), 'KEY_EVENT', /is entry 1 of this ledger; the key section holds entries of other ledgers only/);
  });

  it('an app-key holder who moves the revocation before the approval: the approval is refused (KEY_REVOKED)', async () => {
    const approved = Date.parse(decisionOf(PEOPLE.alice).at);
    const bundle = await forged((e) => ({ at: new Date(approved - 5 * 60_000).toISOString(), event: e.event }), 'key.revoked');
    const report = await verify(bundle);
    expectProblem(report, 'KEY_REVOKED', new RegExp(`signed with key ${alice.keyId}, which was revoked everywhere at .* \\(entry \\d+ of ledger \\{4{8}-`));
    expect(report.problems.find((p) => p.code === 'KEY_REVOKED')!.seq).toBe(decisionOf(PEOPLE.alice).seq);
  });

  it('an app-key holder who moves the revocation after the merge: the re-run quorum then says met, and the bypass record disagrees', async () => {
    const bundle = await forged((e) => ({ at: new Date(world.clock.getTime() + 60 * 60_000).toISOString(), event: e.event }), 'key.revoked');
    expectProblem(await verify(bundle), 'MERGE_VERDICT', /re-running it over the bundle's decisions, revocations and policy says met/);
  });

  it('a revocation within a minute of an approval (two ledgers, two clocks) is noticed, not failed', async () => {
    const approved = Date.parse(decisionOf(PEOPLE.alice).at);
    const report = await verify(await forged((e) => ({ at: new Date(approved - 30_000).toISOString(), event: e.event }), 'key.revoked'));
    expect(report.problems).toEqual([]);
    expect(report.notices).toContainEqual(expect.objectContaining({ code: 'KEY_REVOCATION_CLOSE', seq: decisionOf(PEOPLE.alice).seq }));
  });

  it('an app-key holder who dates the enrolment after the approval: KEY_TIME', async () => {
    const approved = Date.parse(decisionOf(PEOPLE.alice).at);
    const bundle = await forged((e) => ({ at: new Date(approved + 10 * 60_000).toISOString(), event: e.event }), 'key.enrolled');
    expectProblem(await verify(bundle), 'KEY_TIME', /before it was enrolled \(entry \d+ of ledger \{4{8}-/);
  });

  it('an app-key holder who swaps the public key in the enrolment: its key id is not its thumbprint', async () => {
    const other = await aSigner(PEOPLE.alice);
    const bundle = await forged((e) => ({ at: e.at, event: { ...e.event, publicKey: other.publicKey } }), 'key.enrolled');
    expectProblem(await verify(bundle), 'KEY_ID', /enrols key .* which is not the RFC 7638 thumbprint/);
  });

  it('an app-key holder who leaves the key out of the roster: the decision names a key nothing enrols (KEY_UNKNOWN)', async () => {
    const h = header(lines);
    const roster = rosterOf(h);
    h.keys.roster = await signKeyRoster({ ...roster, keys: roster.keys.filter((k) => k.accountId !== PEOPLE.alice) }, appKey);
    h.keys.events = [];
    const report = await verify(withHeader(lines, h));
    expectProblem(report, 'KEY_UNKNOWN', new RegExp(`Entry ${decisionOf(PEOPLE.alice).seq} accepts a decision by ${PEOPLE.alice}`));
  });

  it('a header without its key section is not a bundle this verifier reads', async () => {
    const { keys: _keys, ...rest } = header(lines);
    expect(await verifyEvidence([JSON.stringify(rest), ...lines.slice(1)])).toEqual({ error: expect.stringContaining('not a countersign-evidence version 2 header') });
  });
});
