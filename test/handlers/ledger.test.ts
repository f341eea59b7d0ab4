import { readEntry, verifyEnvelopeEcdsa, verifyLedger, type LedgerEventOf } from '../../src/core';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { aRule, PEOPLE, REPOSITORY, signStatement, World } from '../fixtures/world';

jest.setTimeout(120_000);

/** The repository's ledger: every change, in order, countersigned by the app, checkable offline. */
describe('the ledger', () => {
  let world: World;
  beforeEach(() => (world = new World()));
  afterEach(() => world.dispose());

  async function ledger() {
    const entries = await world.deps.ledger.readLedger(REPOSITORY);
    const { keyId, publicJwk } = await world.deps.ledger.appPublicKey();
    return { entries, check: await verifyLedger(entries, new Map([[keyId, publicJwk]]), REPOSITORY) };
  }

  it('records every change in the same order as state, and verifies with the app key alone', async () => {
    await world.savePolicy([aRule()]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    expect(await world.sign(alice)).toMatchObject({ ok: true });
    expect(await world.sign(alice, 'reject')).toMatchObject({ ok: true });
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });

    const { entries, check } = await ledger();
    expect(check).toMatchObject({ ok: true, entries: 5, head: { seq: 5 } });
    const events = entries.map((e) => readEntry(e)!.event as unknown as LedgerEventOf);
    expect(events.map((e) => e.type)).toEqual(['policy.saved', 'key.enrolled', 'decision.accepted', 'decision.accepted', 'key.revoked']);

    // Each decision entry carries the approver's envelope as received, which verifies with their key alone.
    for (const event of events.filter((e) => e.type === 'decision.accepted')) {
      if (event.type !== 'decision.accepted') continue;
      expect(await verifyEnvelopeEcdsa(event.envelope, event.publicKey, event.keyId)).toBeDefined();
    }
    const stored = world.host.kvs.peek(storageKeys.approvalBucket(REPOSITORY, 1, storageKeys.approvalBucketOf(PEOPLE.alice)), DOCUMENT_ENTITY) as any;
    expect(stored.document[PEOPLE.alice]).toMatchObject({ decision: 'reject', entry: 4 });
  });

  it('keeps history: the statement a signer replaced is still in the ledger', async () => {
    await world.savePolicy([aRule()]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    await world.sign(alice);
    await world.sign(alice, 'reject');
    const { entries } = await ledger();
    const decisions = entries.map((e) => readEntry(e)!.event).filter((e) => e.type === 'decision.accepted');
    expect(decisions.map((e) => e['decision'])).toEqual(['approve', 'reject']);
  });

  it('shows an entry changed in storage: its signature and the chain after it break', async () => {
    await world.savePolicy([aRule()]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    await world.sign(alice);
    world.host.kvs.tamper(storageKeys.ledgerEntry(REPOSITORY, 2), (doc) => {
      const payload = JSON.parse(Buffer.from(doc.document.envelope.payload, 'base64').toString());
      payload.event.label = 'Mallory';
      doc.document.envelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
      return doc;
    }, DOCUMENT_ENTITY);
    const { check } = await ledger();
    expect(check.ok).toBe(false);
    expect(check.problems.map((p) => p.code)).toEqual(expect.arrayContaining(['BAD_SIGNATURE', 'BROKEN_CHAIN']));
  });

  it('accepts 50 concurrent decisions on one repository without forking the chain', async () => {
    const members = Array.from({ length: 50 }, (_, i) => `557058:concurrent-${String(i).padStart(2, '0')}`);
    for (const id of members) world.addReviewer(id, `Signer ${id.slice(-2)}`);
    const groups = Array.from({ length: 5 }, (_, g) => ({ group: `G${g}`, members: members.slice(g * 10, g * 10 + 10), count: 10 }));
    await world.savePolicy([aRule({ requirements: groups })]);
    const signers = await Promise.all(members.map((id) => world.enrolledSigner(id)));
    const statements = await Promise.all(signers.map((s) => world.statementFor(s)));
    world.host.latencyMs = 2;
    const started = performance.now();
    const results = await Promise.all(signers.map((s, i) => world.submit(s, statements[i]!)));
    const seconds = (performance.now() - started) / 1000;
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect((await world.mergeCheck()).success).toBe(true);
    const { check, entries } = await ledger();
    expect(check).toMatchObject({ ok: true, entries: 1 + 50 + 50 });
    expect(entries.map((e) => readEntry(e)!.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    console.log(`ledger: 50 concurrent decisions appended in ${seconds.toFixed(2)} s (${(50 / seconds).toFixed(1)} appends/s at 2 ms per storage call)`);
  });
});

describe('who may write to a repository ledger', () => {
  let world: World;
  const hidden = '{66666666-6666-4666-8666-666666666666}';
  beforeEach(() => {
    world = new World();
    world.host.bitbucket.addRepository({ uuid: hidden, slug: 'hidden', workspace: { uuid: '{11111111-1111-4111-8111-111111111111}', slug: 'acme' }, permissions: { [PEOPLE.admin]: 'admin' } });
  });
  afterEach(() => world.dispose());

  it('enrols no key from a repository the caller cannot see, and records their own revocation installation-wide instead', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const context = world.context(PEOPLE.alice, undefined, hidden);
    const other = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', (other as CryptoKeyPair).publicKey);
    expect(await world.call('enrollKey', PEOPLE.alice, { publicKey: { kty, crv, x, y }, label: 'Sneaky' }, context)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId }, context)).toMatchObject({ ok: true });
    expect(await world.deps.ledger.readLedger(hidden)).toEqual([]);
    expect((await world.deps.ledger.readLedger('installation')).map((e) => readEntry(e)!.event.type)).toEqual(['key.revoked']);
  });

  it('refuses to store a decision whose key was revoked after the checks, in the same transaction', async () => {
    const policy = await world.savePolicy([aRule()]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const statement = await world.statementFor(alice);
    await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId });
    const before = world.host.kvs.snapshot();
    const claim = { accountId: PEOPLE.alice, workspace: statement.predicate.workspace, repository: REPOSITORY, pullRequest: 1, now: world.clock };
    await expect(
      world.deps.gate.recordDecision({
        repository: REPOSITORY,
        pullRequest: 1,
        signer: PEOPLE.alice,
        record: { decision: 'approve', commit: world.head, targetBranch: 'main', policy: policy.hash, keyId: alice.keyId, issuedAt: world.clock.toISOString() },
        event: { type: 'decision.accepted', subject: { kind: 'pull-request', workspace: claim.workspace, repository: REPOSITORY, pullRequest: 1, commit: world.head, targetBranch: 'main' }, signer: PEOPLE.alice, keyId: alice.keyId, decision: 'approve', publicKey: alice.publicKey, envelope: await signStatement(alice, statement) },
        at: world.clock.toISOString(),
        challenge: { value: statement.predicate.challenge, claim, ttlSeconds: 600 },
      }),
    ).rejects.toMatchObject({ code: 'KEY_REVOKED' });
    expect(world.host.kvs.snapshot()).toBe(before);
  });
});
