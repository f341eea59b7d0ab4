import { checkMerge } from '../../src/handlers/mergeCheck';
import { NeedsAuthenticationError } from '@forge/api';
import { parseRules, revocationId } from '../../src/core';
import { DOCUMENT_ENTITY, storageKeys } from '../../src/adapters/keys';
import { aRule, aSigner, OTHER_REPOSITORY, PEOPLE, REPOSITORY, World } from '../fixtures/world';

describe('settings', () => {
  let world: World;
  beforeEach(() => (world = new World()));
  afterEach(() => world.dispose());

  it('shows an empty policy and who may edit it', async () => {
    expect(await world.ok('getSettings', PEOPLE.admin)).toMatchObject({ policy: null, canEdit: true, keys: [] });
    expect(await world.ok('getSettings', PEOPLE.alice)).toMatchObject({ policy: null, canEdit: false });
  });

  it('saves numbered versions for an admin', async () => {
    const first = await world.savePolicy([aRule()]);
    const second = await world.savePolicy([aRule({ branchPattern: 'release/*' })]);
    expect([first.version, second.version]).toEqual([1, 2]);
    expect(second.hash).not.toBe(first.hash);
    expect((await world.ok('getSettings', PEOPLE.alice)).policy).toMatchObject({ version: 2, savedBy: PEOPLE.admin });
  });

  it('refuses a save by someone Bitbucket does not call an admin, and stores nothing', async () => {
    const before = world.host.kvs.snapshot();
    const result = await world.call('saveSettings', PEOPLE.alice, { baseVersion: 0, rules: [aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice], count: 1 }] })] });
    expect(result).toMatchObject({ ok: false, code: 'FORBIDDEN', message: expect.stringContaining('Only repository admins') });
    expect(world.host.kvs.snapshot()).toBe(before);
    expect(world.host.calls.bitbucket.some((c) => c.startsWith('GET /2.0/user/workspaces/') && c.includes('/permissions/repositories'))).toBe(true);
  });

  it('refuses an invalid policy with every problem named', async () => {
    const result = await world.call('saveSettings', PEOPLE.admin, { baseVersion: 0, rules: [aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice], count: 3 }] })] });
    expect(result).toMatchObject({ ok: false, code: 'INVALID_POLICY', message: expect.stringContaining('count cannot exceed') });
  });

  it('checks a draft as saving would, field by field, and stores nothing', async () => {
    const before = world.host.kvs.snapshot();
    const draft = [aRule(), { branchPattern: ' ', requirements: [{ group: '', members: [], count: 0 }, { group: 'Ops', members: [PEOPLE.alice], count: 2 }] }];
    const checked = await world.ok('checkPolicy', PEOPLE.admin, { rules: draft });
    expect(checked).toMatchObject({
      ok: false,
      errors: {
        '1.branchPattern': 'Enter a branch name or pattern',
        '1.requirements.0.group': 'Give the group a name',
        '1.requirements.0.members': 'A group needs at least one member',
        '1.requirements.0.count': 'At least 1 signature is required',
        '1.requirements.1.count': 'The count cannot exceed the number of members',
      },
    });
    expect((checked as { errors: Record<string, string> }).errors['0.branchPattern']).toBeUndefined();
    expect(await world.ok('checkPolicy', PEOPLE.admin, { rules: [aRule(), aRule()] })).toMatchObject({ ok: false, errors: { '': 'Two rules have the same branch pattern; merge them into one' } });
    expect(world.host.kvs.snapshot()).toBe(before);
  });

  it('accepts in a check exactly what it saves, defaults applied, and refuses in a check what it refuses to save', async () => {
    const good = [{ branchPattern: 'release/*', requirements: [{ group: 'Security', members: [PEOPLE.carol], count: 1 }] }];
    expect(await world.ok('checkPolicy', PEOPLE.admin, { rules: good })).toEqual({ ok: true, rules: parseRules(good) });
    for (const bad of [[aRule({ requirements: [] })], [aRule({ branchPattern: 'main[' })], [{ ...aRule(), extra: true }]]) {
      expect(await world.ok('checkPolicy', PEOPLE.admin, { rules: bad })).toMatchObject({ ok: false });
      expect(await world.call('saveSettings', PEOPLE.admin, { baseVersion: 0, rules: bad })).toMatchObject({ ok: false, code: 'INVALID_POLICY' });
    }
  });

  it('refuses a save from a stale version', async () => {
    await world.savePolicy([aRule()]);
    const result = await world.call('saveSettings', PEOPLE.admin, { baseVersion: 0, rules: [aRule()] });
    expect(result).toMatchObject({ ok: false, code: 'CONFLICT' });
  });

  it("lets an admin revoke anyone's key for this repository only, and others only their own", async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    expect(await world.call('revokeKey', PEOPLE.bob, { accountId: PEOPLE.alice, keyId: alice.keyId })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await world.call('revokeKey', PEOPLE.admin, { accountId: PEOPLE.alice, keyId: alice.keyId })).toMatchObject({ ok: true, data: { repository: REPOSITORY } });
    const settings = await world.ok('getSettings', PEOPLE.admin);
    expect(settings.keys).toEqual([expect.objectContaining({ keyId: alice.keyId, revocation: expect.objectContaining({ revokedBy: PEOPLE.admin, repository: REPOSITORY }) })]);

    const here = await world.deps.gate.loadGate(REPOSITORY, 1);
    const elsewhere = await world.deps.gate.loadGate(OTHER_REPOSITORY, 1);
    expect(here.revokedKeys.has(revocationId(PEOPLE.alice, alice.keyId))).toBe(true);
    expect(elsewhere.revokedKeys.has(revocationId(PEOPLE.alice, alice.keyId))).toBe(false);
  });

  it("shows non-admins only their own keys", async () => {
    await world.enrolledSigner(PEOPLE.alice);
    const bob = await world.enrolledSigner(PEOPLE.bob);
    expect((await world.ok('getSettings', PEOPLE.bob)).keys.map((k: { keyId: string }) => k.keyId)).toEqual([bob.keyId]);
    expect((await world.ok('getSettings', PEOPLE.admin)).keys).toHaveLength(2);
  });

  it('enrols the same key once and caps keys per person', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const again = await world.ok('enrollKey', PEOPLE.alice, { publicKey: alice.publicKey, label: 'Laptop' });
    expect(again.key.keyId).toBe(alice.keyId);
    for (let i = 0; i < 9; i++) await world.enrolledSigner(PEOPLE.alice);
    const eleventh = await aSigner(PEOPLE.alice);
    expect(await world.call('enrollKey', PEOPLE.alice, { publicKey: eleventh.publicKey, label: 'Phone' })).toMatchObject({ ok: false, code: 'LIMIT_REACHED' });
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    expect(await world.call('enrollKey', PEOPLE.alice, { publicKey: eleventh.publicKey, label: 'Phone' })).toMatchObject({ ok: true });
  });

  it('refuses to act without an authenticated context', async () => {
    const result = await world.call('getPanelState', PEOPLE.alice, undefined, { accountId: PEOPLE.alice });
    expect(result).toMatchObject({ ok: false, code: 'NOT_AUTHENTICATED' });
  });
});

describe('commit status', () => {
  it('mirrors the verdict on the head commit when the rule asks for it', async () => {
    const world = new World();
    try {
      await world.savePolicy([aRule({ commitStatus: true, requirements: [{ group: 'M', members: [PEOPLE.alice, PEOPLE.bob], count: 1 }] })]);
      const alice = await world.enrolledSigner(PEOPLE.alice);
      await world.prEvent('avi:bitbucket:created:pullrequest');
      expect(world.repo.statuses.at(-1)).toMatchObject({ commit: world.head, key: 'countersign', state: 'INPROGRESS', refname: 'feature/refunds' });
      await world.sign(alice);
      await world.settle();
      expect(world.repo.statuses.at(-1)).toMatchObject({ commit: world.head, key: 'countersign', state: 'SUCCESSFUL' });
    } finally {
      world.dispose();
    }
  });
});

describe('Bitbucket at its edges', () => {
  let world: World;
  beforeEach(() => (world = new World()));
  afterEach(() => world.dispose());

  it('keeps an approval and its verdict when the build status cannot be posted', async () => {
    await world.savePolicy([aRule({ commitStatus: true, requirements: [{ group: 'M', members: [PEOPLE.alice], count: 1 }] })]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    world.repo.failStatusesWith = 503;
    expect(await world.sign(alice)).toMatchObject({ ok: true, data: { verdict: { pass: true } } });
    const { results } = await world.settle();
    // Retried, then reported (not thrown); the decision stands.
    expect(results.at(-1)).toMatchObject({ error: { code: 'BITBUCKET_ERROR', message: expect.stringContaining('503') } });
    expect(await world.mergeCheck('on-code-pushed')).toMatchObject({ success: true });
  });

  it('reads every page of commits when commit authors are excluded', async () => {
    for (let i = 2; i <= 150; i++) world.push(`c${i}`, i === 2 ? PEOPLE.alice : PEOPLE.author);
    await world.savePolicy([aRule({ excludeCommitAuthors: true })]);
    const alice = await world.enrolledSigner(PEOPLE.alice);
    world.host.resetCalls();
    expect(await world.sign(alice)).toMatchObject({ ok: false, code: 'COMMIT_AUTHOR' });
    expect(world.host.calls.bitbucket.filter((c) => c.includes('/commits'))).toHaveLength(2 * 2);
  });

  it('passes the consent prompt through to Forge instead of turning it into an error result', async () => {
    world.host.awaitingConsent.add(PEOPLE.admin);
    await expect(world.call('getSettings', PEOPLE.admin)).rejects.toBeInstanceOf(NeedsAuthenticationError);
  });
});

describe('merge check failures', () => {
  it('fails closed with a reason when Bitbucket cannot be read', async () => {
    const world = new World();
    try {
      await world.savePolicy([aRule()]);
      world.repo.pullRequests.delete(1);
      const result = await world.mergeCheck();
      expect(result).toEqual({ success: false, message: expect.stringMatching(/^Countersign could not verify approvals, so merging is blocked: Bitbucket could not find/) });
    } finally {
      world.dispose();
    }
  });

  it('fails closed on an event it does not understand', async () => {
    const world = new World();
    try {
      expect(await checkMerge(world.deps, { pullrequest: { id: 1 } })).toMatchObject({ success: false });
    } finally {
      world.dispose();
    }
  });
});

describe('policy history', () => {
  let world: World;
  beforeEach(() => (world = new World()));
  afterEach(() => world.dispose());

  it('keeps every saved version, readable by version and matching the hash statements name', async () => {
    const saved = [];
    for (const count of [1, 2, 3]) saved.push(await world.savePolicy([aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.dave], count }] })]));
    for (const policy of saved) {
      const kept = await world.host.actAs(PEOPLE.admin, () => world.deps.gate.loadPolicyVersion(REPOSITORY, policy.version));
      expect(kept).toMatchObject({ version: policy.version, hash: policy.hash });
    }
    expect(new Set(saved.map((p) => p.hash)).size).toBe(3);
    expect(await world.deps.gate.loadPolicyVersion(REPOSITORY, 4)).toBeUndefined();
  });

  it('lets only one of two admins saving on the same version win, and keeps the winner', async () => {
    await world.savePolicy([aRule()]);
    const save = (count: number) => world.call('saveSettings', PEOPLE.admin, { baseVersion: 1, rules: [aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice, PEOPLE.bob], count }] })] });
    const results = await Promise.all([save(1), save(2)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual([expect.objectContaining({ code: 'CONFLICT' })]);
    const kept = await world.deps.gate.loadPolicyVersion(REPOSITORY, 2);
    expect(kept?.hash).toBe((results.find((r) => r.ok) as any).data.policy.hash);
  });

  it('refuses to save on a base version that was never saved, so versions never skip', async () => {
    await world.savePolicy([aRule()]);
    const result = await world.call('saveSettings', PEOPLE.admin, { baseVersion: 40, rules: [aRule()] });
    expect(result).toMatchObject({ ok: false, code: 'CONFLICT', message: expect.stringContaining('no policy version 40') });
    expect(await world.deps.gate.loadPolicyVersion(REPOSITORY, 41)).toBeUndefined();
  });

  it('fails closed when the current policy record is lost, and an admin can save it again', async () => {
    await world.savePolicy([aRule()]);
    await world.savePolicy([aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice, PEOPLE.bob], count: 1 }] })]);
    world.host.kvs.drop(storageKeys.policy(REPOSITORY), DOCUMENT_ENTITY);

    const merge = await world.mergeCheck();
    expect(merge).toEqual({ success: false, message: expect.stringContaining('policy record is missing') });
    expect(await world.call('getPanelState', PEOPLE.alice)).toMatchObject({ ok: false, code: 'STORAGE_ERROR' });

    const settings = await world.ok('getSettings', PEOPLE.admin);
    expect(settings.policy).toMatchObject({ version: 2 });
    await world.savePolicy(settings.policy.rules);
    expect((await world.mergeCheck()).message).toContain('0 of 1 signed');
  });
});
