import { OTHER_REPOSITORY, PEOPLE, aRule, aSigner, commitHash, signStatement, World, type Signer } from '../fixtures/world';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { buildPolicy, encodeBase64, statementPayload } from '../../src/core';
import { REPOSITORY, WORKSPACE } from '../fixtures/world';

/**
 * Each row is an attack; each test fails if the defence breaks. Refused submissions must also leave
 * storage exactly as it was (challenges aside, which the store consumes only when everything else passed).
 */
describe('attacks on submission', () => {
  let world: World;
  let alice: Signer;

  beforeEach(async () => {
    world = new World();
    await world.savePolicy([aRule()]);
    alice = await world.enrolledSigner(PEOPLE.alice);
  });
  afterEach(() => world.dispose());

  async function expectRefused(attempt: () => Promise<{ ok: boolean; code?: string }>, code: string) {
    const before = world.host.kvs.snapshot();
    const result = await attempt();
    expect(result).toMatchObject({ ok: false, code });
    expect(world.host.kvs.snapshot()).toBe(before);
    const merge = await world.mergeCheck();
    expect(merge.success).toBe(false);
  }

  it('refuses a forged signature (signed by another key)', async () => {
    const mallory = await aSigner(PEOPLE.alice);
    const statement = await world.statementFor(alice);
    await expectRefused(() => world.submit(mallory, statement), 'BAD_SIGNATURE');
  });

  it('refuses a signature over a different statement than the one submitted', async () => {
    const statement = await world.statementFor(alice);
    const rejection = await signStatement(alice, await world.statementFor(alice, 'reject', { challenge: statement.predicate.challenge }));
    const swapped = { ...rejection, payload: encodeBase64(statementPayload(statement)) };
    await expectRefused(() => world.submit(alice, statement, PEOPLE.alice, swapped), 'BAD_SIGNATURE');
  });

  it.each([
    ['another commit', { commit: commitHash('elsewhere') }, 'WRONG_COMMIT'],
    ['another pull request', { pullRequest: 2 }, 'WRONG_PULL_REQUEST'],
    ['another repository', { repository: OTHER_REPOSITORY }, 'WRONG_REPOSITORY'],
    ['another target branch', { targetBranch: 'release/1.0' }, 'WRONG_TARGET'],
    ['another workspace', { workspace: '{44444444-4444-4444-8444-444444444444}' }, 'WRONG_WORKSPACE'],
  ])('refuses a statement for %s', async (_what, overrides, code) => {
    const statement = await world.statementFor(alice, 'approve', overrides);
    await expectRefused(() => world.submit(alice, statement), code);
  });

  it('refuses a replayed challenge', async () => {
    const statement = await world.statementFor(alice);
    expect(await world.submit(alice, statement)).toMatchObject({ ok: true });
    await expectRefused(() => world.submit(alice, statement), 'CHALLENGE_USED');
  });

  it('refuses an expired challenge', async () => {
    const panel = await world.panel(PEOPLE.alice);
    world.clock = new Date(Date.parse(panel.challenge.expiresAt) + 1);
    const statement = await world.statementFor(alice, 'approve', { challenge: panel.challenge.value, issuedAt: world.clock.toISOString() });
    await expectRefused(() => world.submit(alice, statement), 'CHALLENGE_EXPIRED');
  });

  it('refuses a challenge that storage has forgotten', async () => {
    const statement = await world.statementFor(alice, 'approve', { challenge: 'z'.repeat(43) });
    await expectRefused(() => world.submit(alice, statement), 'CHALLENGE_INVALID');
  });

  it('refuses a challenge issued to someone else', async () => {
    const bob = await world.enrolledSigner(PEOPLE.bob);
    const bobsPanel = await world.panel(PEOPLE.bob);
    const statement = await world.statementFor(alice, 'approve', { challenge: bobsPanel.challenge.value });
    await expectRefused(() => world.submit(alice, statement), 'CHALLENGE_INVALID');
    // The failed attempt did not burn Bob's challenge: he can still use it.
    const bobs = await world.statementFor(bob, 'approve', { challenge: bobsPanel.challenge.value });
    expect(await world.submit(bob, bobs)).toMatchObject({ ok: true });
  });

  it("refuses someone else's key", async () => {
    const bob = await world.enrolledSigner(PEOPLE.bob);
    // Alice signs with Bob's key id but her own private key; and Bob's key cannot sign for Alice.
    const statement = await world.statementFor(alice, 'approve', { keyId: bob.keyId });
    await expectRefused(() => world.submit(bob, statement, PEOPLE.alice), 'UNKNOWN_KEY');
  });

  it('refuses a key that was never enrolled', async () => {
    const stranger = await aSigner(PEOPLE.alice);
    const statement = await world.statementFor(stranger);
    await expectRefused(() => world.submit(stranger, statement), 'UNKNOWN_KEY');
  });

  it('refuses a revoked key, and stops counting what it signed before', async () => {
    expect(await world.sign(alice)).toMatchObject({ ok: true });
    const bob = await world.enrolledSigner(PEOPLE.bob);
    expect(await world.sign(bob)).toMatchObject({ ok: true });
    expect((await world.mergeCheck()).success).toBe(true);

    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    const merge = await world.mergeCheck();
    expect(merge.success).toBe(false);
    const panel = await world.panel(PEOPLE.alice);
    expect(panel.verdict.rules[0].requirements[0].notCounted).toContainEqual({ accountId: PEOPLE.alice, reason: 'revoked-key' });
    const statement = await world.statementFor(alice);
    await expectRefused(() => world.submit(alice, statement), 'KEY_REVOKED');
  });

  it("refuses to enrol someone else's public key, so their key cannot be revoked or claimed by another account", async () => {
    const dave = await world.enrolledSigner(PEOPLE.dave);
    expect(await world.sign(dave, 'reject')).toMatchObject({ ok: true });
    const before = world.host.kvs.snapshot();
    expect(await world.call('enrollKey', PEOPLE.author, { publicKey: dave.publicKey, label: 'Borrowed' })).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(world.host.kvs.snapshot()).toBe(before);
    expect(await world.call('revokeKey', PEOPLE.author, { keyId: dave.keyId })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect((await world.mergeCheck()).message).toContain('rejected by dave');
  });

  it('refuses a second spelling of an enrolled or revoked key, so one key never has two key ids', async () => {
    const respell = (coordinate: string) => coordinate.slice(0, -1) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charAt(('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(coordinate.slice(-1)) ^ 1));
    const variant = { ...alice.publicKey, x: respell(alice.publicKey.x) };
    expect(Buffer.from(variant.x, 'base64url').equals(Buffer.from(alice.publicKey.x, 'base64url'))).toBe(true);
    const before = world.host.kvs.snapshot();
    expect(await world.call('enrollKey', PEOPLE.author, { publicKey: variant, label: 'Same key' })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    const afterRevoke = world.host.kvs.snapshot();
    expect(afterRevoke).not.toBe(before);
    expect(await world.call('enrollKey', PEOPLE.alice, { publicKey: variant, label: 'Revived' })).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
    expect(world.host.kvs.snapshot()).toBe(afterRevoke);
  });

  it("keeps a signer's later rejection in force even when it was signed on a device whose clock is behind", async () => {
    const bob = await world.enrolledSigner(PEOPLE.bob);
    expect(await world.sign(bob)).toMatchObject({ ok: true });
    const laptop = await world.statementFor(alice, 'approve', { issuedAt: new Date(world.clock.getTime() + 90_000).toISOString() });
    expect(await world.submit(alice, laptop)).toMatchObject({ ok: true });
    expect((await world.mergeCheck()).success).toBe(true);

    const phone = await world.enrolledSigner(PEOPLE.alice);
    const rejection = await world.statementFor(phone, 'reject', { issuedAt: new Date(world.clock.getTime() - 60_000).toISOString() });
    const answer = await world.submit(phone, rejection);
    expect(answer).toMatchObject({ ok: true, data: { verdict: { pass: false } } });
    expect((await world.panel(PEOPLE.alice)).me.decision).toMatchObject({ decision: 'reject' });
    expect(await world.mergeCheck()).toEqual({ success: false, message: expect.stringContaining('rejected by alice') });
  });

  it("refuses the author's own approval, and never counts one found in storage", async () => {
    const author = await world.enrolledSigner(PEOPLE.author);
    await world.savePolicy([aRule({ requirements: [{ group: 'Maintainers', members: [PEOPLE.author, PEOPLE.alice], count: 1 }] })]);
    const statement = await world.statementFor(author);
    await expectRefused(() => world.submit(author, statement), 'SELF_APPROVAL');

    // Even if it reached storage (say the policy allowed it when signed), the merge check does not count it.
    await world.savePolicy([aRule({ excludeAuthor: false, requirements: [{ group: 'Maintainers', members: [PEOPLE.author, PEOPLE.alice], count: 1 }] })]);
    expect(await world.sign(author)).toMatchObject({ ok: true });
    expect((await world.mergeCheck()).success).toBe(true);
    await world.savePolicy([aRule({ excludeAuthor: true, requirements: [{ group: 'Maintainers', members: [PEOPLE.author, PEOPLE.alice], count: 1 }] })]);
    const merge = await world.mergeCheck();
    expect(merge.success).toBe(false);
  });

  it('refuses a commit author when the policy excludes commit authors', async () => {
    world.push('c2', PEOPLE.alice);
    await world.savePolicy([aRule({ excludeCommitAuthors: true })]);
    const statement = await world.statementFor(alice);
    await expectRefused(() => world.submit(alice, statement), 'COMMIT_AUTHOR');
  });

  it('refuses an approver outside every group', async () => {
    const outsider = await world.enrolledSigner(PEOPLE.outsider);
    const statement = await world.statementFor(outsider);
    await expectRefused(() => world.submit(outsider, statement), 'NOT_ELIGIBLE');
  });

  it('refuses a statement whose signer field names another user', async () => {
    const bob = await world.enrolledSigner(PEOPLE.bob);
    const statement = await world.statementFor(alice, 'approve', { signer: PEOPLE.bob, keyId: bob.keyId });
    await expectRefused(() => world.submit(alice, statement, PEOPLE.alice), 'WRONG_SIGNER');
  });

  it('refuses a statement made under a policy that has since changed', async () => {
    const statement = await world.statementFor(alice);
    await world.savePolicy([aRule({ requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob], count: 1 }] })]);
    await expectRefused(() => world.submit(alice, statement), 'POLICY_CHANGED');
  });

  it('still counts a signature made under an earlier policy, judged by the policy now', async () => {
    expect(await world.sign(alice)).toMatchObject({ ok: true });
    await world.savePolicy([aRule({ requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob], count: 1 }] })]);
    expect((await world.mergeCheck()).success).toBe(true);
  });

  describe('tampered storage', () => {
    const bucketOf = (person: string) => storageKeys.approvalBucket(REPOSITORY, 1, storageKeys.approvalBucketOf(person));
    const tamperRecord = (person: string, change: (doc: any) => void) =>
      world.host.kvs.tamper(bucketOf(person), (doc) => {
        change(doc);
        return doc;
      }, DOCUMENT_ENTITY);

    it('fails closed on a rejection rewritten into an approval, and never re-seals the changed bucket', async () => {
      const bob = await world.enrolledSigner(PEOPLE.bob);
      expect(await world.sign(alice)).toMatchObject({ ok: true });
      expect(await world.sign(bob, 'reject')).toMatchObject({ ok: true });
      const later = await world.statementFor(bob);
      tamperRecord(PEOPLE.bob, (doc) => (doc.document[PEOPLE.bob].decision = 'approve'));
      expect(await world.mergeCheck()).toEqual({ success: false, message: expect.stringContaining('stored signatures were changed outside Countersign') });
      // A later signature landing in the same bucket must not launder the change with a fresh seal.
      const before = world.host.kvs.snapshot();
      expect(await world.submit(bob, later)).toMatchObject({ ok: false, code: 'STORAGE_ERROR' });
      expect(world.host.kvs.snapshot()).toBe(before);
      expect((await world.mergeCheck()).success).toBe(false);
    });

    it('stops counting an approval added by hand for someone who never signed', async () => {
      expect(await world.sign(alice)).toMatchObject({ ok: true });
      world.host.kvs.tamper(bucketOf(PEOPLE.alice), (doc) => {
        const forged = { ...doc.document[PEOPLE.alice] };
        if (storageKeys.approvalBucketOf(PEOPLE.dave) === storageKeys.approvalBucketOf(PEOPLE.alice)) doc.document[PEOPLE.dave] = forged;
        return doc;
      }, DOCUMENT_ENTITY);
      if (storageKeys.approvalBucketOf(PEOPLE.dave) !== storageKeys.approvalBucketOf(PEOPLE.alice)) {
        const { seal: _seal, ...unsealed } = world.host.kvs.peek(bucketOf(PEOPLE.alice), DOCUMENT_ENTITY) as any;
        world.host.kvs.plant(bucketOf(PEOPLE.dave), { ...unsealed, document: { [PEOPLE.dave]: unsealed.document[PEOPLE.alice] } }, DOCUMENT_ENTITY);
      }
      expect((await world.mergeCheck()).success).toBe(false);
    });

    it('stops counting stale approvals moved onto the new head commit', async () => {
      const bob = await world.enrolledSigner(PEOPLE.bob);
      await world.sign(alice);
      await world.sign(bob);
      expect((await world.mergeCheck()).success).toBe(true);
      const head = world.push('c2');
      for (const person of [PEOPLE.alice, PEOPLE.bob]) tamperRecord(person, (doc) => (doc.document[person].commit = head));
      expect((await world.mergeCheck()).success).toBe(false);
    });

    it('fails closed when a revocation is removed from the index', async () => {
      const bob = await world.enrolledSigner(PEOPLE.bob);
      await world.sign(alice);
      await world.sign(bob);
      expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
      for (let shard = 0; shard < 3; shard++) {
        const key = storageKeys.revokedShard(shard);
        if (world.host.kvs.peek(key, DOCUMENT_ENTITY)) world.host.kvs.tamper(key, (doc) => ({ ...doc, document: {} }), DOCUMENT_ENTITY);
      }
      expect(await world.mergeCheck()).toEqual({ success: false, message: expect.stringContaining('revocation index was changed') });
    });

    it('fails closed when the stored policy no longer matches its hash', async () => {
      world.host.kvs.tamper(storageKeys.policy(REPOSITORY), (doc) => {
        doc.document.rules[0].requirements[0].count = 1;
        return doc;
      }, DOCUMENT_ENTITY);
      expect((await world.mergeCheck()).success).toBe(false);
    });

    it('fails closed on a policy rewritten with its hash recomputed, which anyone could do', async () => {
      await world.sign(alice);
      const weaker = await buildPolicy({ ...(await world.deps.gate.loadPolicy(REPOSITORY))!, rules: [aRule({ requirements: [{ group: 'Maintainers', members: [PEOPLE.alice], count: 1 }] })] });
      world.host.kvs.tamper(storageKeys.policy(REPOSITORY), (doc) => ({ ...doc, document: weaker }), DOCUMENT_ENTITY);
      expect(await world.mergeCheck()).toEqual({ success: false, message: expect.stringContaining('stored policy was changed outside Countersign') });
    });

    it('fails closed when a page of the revocation index is deleted', async () => {
      await world.sign(alice);
      const bob = await world.enrolledSigner(PEOPLE.bob);
      await world.sign(bob);
      expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
      for (const shard of [0, 1, 2]) world.host.kvs.drop(storageKeys.revokedShard(shard), DOCUMENT_ENTITY);
      expect(await world.mergeCheck()).toEqual({ success: false, message: expect.stringContaining('revocation index was changed') });
    });
  });

  describe('context the browser sent', () => {
    const secret = '{55555555-5555-4555-8555-555555555555}';

    beforeEach(() => {
      const repo = world.host.bitbucket.addRepository({
        uuid: secret,
        slug: 'secret',
        workspace: { uuid: WORKSPACE, slug: 'acme' },
        permissions: { [PEOPLE.admin]: 'admin' },
      });
      world.host.bitbucket.addPullRequest(repo, {
        id: 1,
        title: 'Hidden',
        author: PEOPLE.admin,
        sourceBranch: 'feature/hidden',
        targetBranch: 'main',
        state: 'OPEN',
        reviewers: [],
        commits: [{ hash: commitHash('hidden'), author: PEOPLE.admin, message: 'Hidden' }],
      });
    });

    it('shows nothing of a repository Bitbucket would not show the caller, and stores nothing', async () => {
      const before = world.host.kvs.snapshot();
      const context = world.context(PEOPLE.alice, 1, secret);
      expect(await world.call('getPanelState', PEOPLE.alice, undefined, context)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
      expect(await world.call('getSettings', PEOPLE.alice, undefined, context)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
      expect(world.host.kvs.snapshot()).toBe(before);
    });

    it("refuses a signature for a repository the caller cannot see, even with the statement pointing there", async () => {
      const statement = await world.statementFor(alice, 'approve', { repository: secret, commit: commitHash('hidden') });
      const before = world.host.kvs.snapshot();
      const result = await world.call('submitDecision', PEOPLE.alice, { envelope: await signStatement(alice, statement) }, world.context(PEOPLE.alice, 1, secret));
      expect(result).toMatchObject({ ok: false, code: 'FORBIDDEN' });
      expect(world.host.kvs.snapshot()).toBe(before);
    });

    it('takes the workspace from the installation, and refuses a page that claims another', async () => {
      const other = '{44444444-4444-4444-8444-444444444444}';
      const claimed = { ...world.context(PEOPLE.alice), workspaceId: other };
      expect(await world.call('getPanelState', PEOPLE.alice, undefined, claimed)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
      const installedElsewhere = { ...world.context(PEOPLE.alice), installContext: `ari:cloud:bitbucket::workspace/${other.slice(1, -1)}`, workspaceId: undefined };
      expect(await world.call('getPanelState', PEOPLE.alice, undefined, installedElsewhere)).toMatchObject({ ok: false, code: 'NOT_FOUND' });
      const noInstallation = { ...world.context(PEOPLE.alice), installContext: undefined };
      expect(await world.call('getPanelState', PEOPLE.alice, undefined, noInstallation)).toMatchObject({ ok: false, code: 'NOT_AUTHENTICATED' });
    });
  });

  describe('malformed payloads', () => {
    const huge = 'x'.repeat(100_000);
    it.each([
      ['no payload', undefined],
      ['a string', 'approve'],
      ['missing fields', { envelope: { payloadType: 'application/vnd.in-toto+json' } }],
      ['wrong types', { envelope: { payloadType: 1, payload: [], signatures: 'x' } }],
      ['a huge signature', { envelope: { payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [{ keyid: 'k', sig: huge }] } }],
      ['a huge payload', { envelope: { payloadType: 'application/vnd.in-toto+json', payload: btoa(huge), signatures: [{ keyid: 'k', sig: 'AAAA' }] } }],
      ['a v1 statement', { statement: { type: 'countersign.approval/v1' }, signature: 'x' }],
      ['extra fields', { envelope: { payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [{ keyid: 'k', sig: 'AAAA' }] }, admin: true }],
      ['an envelope carrying no decision statement', { envelope: { payloadType: 'application/vnd.in-toto+json', payload: 'e30=', signatures: [{ keyid: 'k', sig: 'AAAA' }] } }],
    ])('answers %s with INVALID_INPUT and stores nothing', async (_what, payload) => {
      const before = world.host.kvs.snapshot();
      const result = await world.call('submitDecision', PEOPLE.alice, payload);
      expect(result).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
      expect((result as { message: string }).message.length).toBeLessThan(600);
      expect(world.host.kvs.snapshot()).toBe(before);
    });

    it('refuses a huge or odd statement field', async () => {
      const statement = await world.statementFor(alice, 'approve', { targetBranch: huge });
      const before = world.host.kvs.snapshot();
      expect(await world.submit(alice, statement)).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
      expect(world.host.kvs.snapshot()).toBe(before);
    });

    it.each([
      ['a private key', async () => ({ publicKey: await crypto.subtle.exportKey('jwk', (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])).privateKey), label: 'x' })],
      ['a point off the curve', async () => ({ publicKey: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) }, label: 'x' })],
      ['an RSA key', async () => ({ publicKey: { kty: 'RSA', n: 'AQAB', e: 'AQAB' }, label: 'x' })],
      ['an empty label', async () => ({ publicKey: alice.publicKey, label: '' })],
    ])('refuses to enrol %s', async (_what, payload) => {
      const before = world.host.kvs.snapshot();
      expect(await world.call('enrollKey', PEOPLE.bob, await payload())).toMatchObject({ ok: false, code: 'INVALID_INPUT' });
      expect(world.host.kvs.snapshot()).toBe(before);
    });
  });
});
