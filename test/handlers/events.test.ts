import { evaluateQuorum, checkedApproval, readEntry, type Rule } from '../../src/core';
import { reevaluate } from '../../src/handlers/reevaluate';
import { aRule, commitHash, PEOPLE, REPOSITORY, WORKSPACE, World, type Signer } from '../fixtures/world';

/** Re-evaluation driven by product events, decisions, revocations and policy saves: statuses, auto-merge and merge records. */
const subject = (world: World) => ({ workspace: WORKSPACE, repository: REPOSITORY, pullRequest: world.pr.id });
const events = async (world: World) => (await world.deps.ledger.readLedger(REPOSITORY)).map((e) => readEntry(e)!.event as any);
const mergeCalls = (world: World) => world.host.calls.bitbucket.filter((c) => /^POST .*\/merge$/.test(c.split('?')[0]!)).length;

describe('statuses from product events', () => {
  let world: World;
  let alice: Signer;
  let bob: Signer;
  beforeEach(async () => {
    world = new World();
    await world.savePolicy([aRule({ commitStatus: true })]);
    alice = await world.enrolledSigner(PEOPLE.alice);
    bob = await world.enrolledSigner(PEOPLE.bob);
    await world.settle();
  });
  afterEach(() => world.dispose());

  it('posts INPROGRESS saying what is missing, with the source branch and a URL back to the pull request', async () => {
    await world.prEvent('avi:bitbucket:created:pullrequest');
    expect(world.status()).toEqual({
      commit: world.head,
      key: 'countersign',
      state: 'INPROGRESS',
      name: 'Countersign',
      description: expect.stringContaining('Maintainers 0 of 2 signed'),
      refname: 'feature/refunds',
      url: `https://bitbucket.org/${encodeURIComponent(WORKSPACE)}/${encodeURIComponent(REPOSITORY)}/pull-requests/1`,
    });
  });

  it('keeps a long description within Bitbucket\'s 255 characters', async () => {
    const many = Array.from({ length: 10 }, (_, i) => ({ group: `A group with a rather long name ${i}`, members: [PEOPLE.alice, PEOPLE.bob], count: 1 }));
    await world.savePolicy([aRule({ commitStatus: true, requirements: many })]);
    await world.settle();
    expect(world.status()!.description!.length).toBeLessThanOrEqual(255);
    expect(world.status()!.description).toMatch(/…$/);
  });

  it('posts once for duplicate events, and nothing new for a duplicate of an event already handled', async () => {
    await world.prEvent();
    world.host.resetCalls();
    await world.prEvent();
    await world.prEvent('avi:bitbucket:updated:pullrequest-reviewer-status');
    expect(world.repo.statuses).toHaveLength(1);
    // A duplicate costs only its reads: the pull request, its commits; nothing posted.
    expect(world.host.calls.bitbucket.every((c) => c.startsWith('GET '))).toBe(true);
  });

  it('starts a new push at INPROGRESS, leaves the old commit alone, and a late event for the old commit changes nothing', async () => {
    await world.sign(alice);
    await world.sign(bob);
    await world.settle();
    const old = world.head;
    expect(world.status(old)?.state).toBe('SUCCESSFUL');
    const onOld = world.repo.statuses.filter((s) => s.commit === old).length;
    const fresh = world.push('c2');
    await world.prEvent('avi:bitbucket:updated:pullrequest', fresh);
    // Late and out of order: an event naming the commit before.
    await world.prEvent('avi:bitbucket:updated:pullrequest', old);
    await world.pushEvent();
    await world.settle();
    expect(world.status(fresh)).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('2 signatures are for an older commit') });
    expect(world.status(old)?.state).toBe('SUCCESSFUL');
    expect(world.repo.statuses.filter((s) => s.commit === old)).toHaveLength(onOld);
  });

  it('posts no SUCCESSFUL on a commit that was replaced during the evaluation', async () => {
    await world.sign(alice);
    expect(await world.sign(bob)).toMatchObject({ ok: true });
    // The push lands after the pull request was read and before anything is posted.
    const read = world.deps.bitbucket.getPullRequest.bind(world.deps.bitbucket);
    let pushed = '';
    world.deps.bitbucket.getPullRequest = async (...args) => {
      const pr = await read(...args);
      if (!pushed) pushed = world.push('c2');
      return pr;
    };
    const outcome = await reevaluate(world.deps, subject(world));
    expect(outcome).toMatchObject({ stale: true });
    expect(world.repo.statuses.filter((s) => s.state === 'SUCCESSFUL')).toEqual([]);
    world.deps.bitbucket.getPullRequest = read;
    await world.settle();
    expect(world.status(pushed)?.state).toBe('INPROGRESS');
    expect(world.repo.statuses.filter((s) => s.state === 'SUCCESSFUL')).toEqual([]);
  });

  it('turns SUCCESSFUL into FAILED on a blocking rejection, and back to INPROGRESS after a revocation', async () => {
    const dave = await world.enrolledSigner(PEOPLE.dave);
    await world.sign(alice);
    await world.sign(bob);
    await world.settle();
    expect(world.status()?.state).toBe('SUCCESSFUL');
    await world.sign(dave, 'reject');
    await world.settle();
    expect(world.status()?.state).toBe('FAILED');
    expect(await world.call('revokeKey', PEOPLE.dave, { keyId: dave.keyId })).toMatchObject({ ok: true });
    await world.settle();
    expect(world.status()?.state).toBe('SUCCESSFUL');
    expect(await world.call('revokeKey', PEOPLE.alice, { keyId: alice.keyId })).toMatchObject({ ok: true });
    await world.settle();
    expect(world.status()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });
  });

  it('leaves no SUCCESSFUL standing when a revocation lands while an older evaluation is posting', async () => {
    await world.sign(alice);
    await world.sign(bob);
    await world.settle();
    // Re-evaluation A judged SUCCESSFUL from a read made before the revocation; it lands as A posts,
    // and the re-evaluation the revocation queues is lost (as one can be, racing A on another invocation).
    await world.deps.keys.revokeKey({ accountId: PEOPLE.alice, keyId: alice.keyId, revokedAt: world.clock.toISOString(), revokedBy: PEOPLE.alice }, REPOSITORY);
    const before = world.deps.gate.loadGate.bind(world.deps.gate);
    let first = true;
    world.deps.gate.loadGate = async (...args) => {
      if (!first) return before(...args);
      first = false;
      const gate = await before(...args);
      return { ...gate, revokedKeys: { has: () => false } };
    };
    world.host.bitbucket.faults.length = 0;
    world.repo.statuses.length = 0;
    await world.deps.reevaluation.notePostedStatus(REPOSITORY, world.pr.id, { commit: world.head, state: 'INPROGRESS', description: 'stale' });
    const outcome = await reevaluate(world.deps, subject(world));
    world.deps.gate.loadGate = before;
    expect(world.repo.statuses.map((s) => s.state)).toEqual(['SUCCESSFUL', 'INPROGRESS']);
    expect(outcome.posted).toBe('INPROGRESS');
    expect(world.status()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });
  });

  it('queues nothing for a push where the policy neither posts statuses nor merges, and everything where it does', async () => {
    await world.savePolicy([aRule({ commitStatus: false })]);
    await world.settle();
    world.host.resetCalls();
    expect(await world.pushEvent()).toEqual({ queued: false });
    expect(world.host.calls.bitbucket).toEqual([]);
    await world.savePolicy([aRule({ autoMerge: true })]);
    await world.settle();
    expect(await world.pushEvent()).toEqual({ queued: true });
  });

  it('retries 429 and 500 with backoff, then posts', async () => {
    await world.sign(alice);
    world.host.bitbucket.faults.push({ status: 429 }, { status: 500 }, { status: 429 });
    const outcome = await reevaluate(world.deps, subject(world));
    expect(outcome).toMatchObject({ posted: 'INPROGRESS' });
    expect(world.status()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });
  });

  it('reports Bitbucket failing past the retry budget instead of throwing, and posts on the next event', async () => {
    await world.sign(alice);
    const before = world.repo.statuses.length;
    world.host.bitbucket.faults.push(...Array.from({ length: 200 }, () => ({ status: 500 })));
    const started = Date.now();
    const outcome = await reevaluate(world.deps, subject(world));
    expect(outcome.error).toEqual({ code: 'BITBUCKET_ERROR', message: expect.stringContaining('Bitbucket answered 500') });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(world.repo.statuses).toHaveLength(before);
    world.host.bitbucket.faults.length = 0;
    await world.prEvent();
    expect(world.status()).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });
  });

  it('re-evaluates every open pull request through the queue after a policy save, 50 events a push', async () => {
    for (let id = 2; id <= 121; id++) {
      world.host.bitbucket.addPullRequest(world.repo, {
        ...world.pr,
        id,
        commits: [{ hash: commitHash(`pr-${id}`), author: PEOPLE.author, message: 'work' }],
      });
    }
    world.host.resetCalls();
    await world.savePolicy([aRule({ commitStatus: true, requirements: [{ group: 'M', members: [PEOPLE.alice], count: 1 }] })]);
    const { delivered } = await world.settle();
    expect(delivered).toBe(1 + 121);
    const publishes = world.host.calls.queue.filter((p) => p.startsWith('/webhook/queue/publish/'));
    expect(publishes.length).toBe(1 + 3);
    const heads = new Set(world.repo.statuses.filter((s) => s.state === 'INPROGRESS' && s.description?.includes('M 0 of 1')).map((s) => s.commit));
    expect(heads.size).toBe(121);
  });

  it('keeps the merge check a pure read', async () => {
    const before = world.repo.statuses.length;
    world.host.resetCalls();
    await world.mergeCheck('on-code-pushed');
    expect(world.host.calls.bitbucket.every((c) => c.startsWith('GET '))).toBe(true);
    expect(world.host.calls.kvs.every((p) => p === '/api/v1/batch/get' || p === '/api/v1/secret/get')).toBe(true);
    expect(world.repo.statuses).toHaveLength(before);
  });
});

describe('auto-merge', () => {
  let world: World;
  let signers: Record<'alice' | 'bob' | 'dave', Signer>;
  const rule = (overrides: Partial<Rule> = {}) => aRule({ autoMerge: true, commitStatus: true, mergeStrategy: 'squash', ...overrides });
  beforeEach(async () => {
    world = new World();
    await world.savePolicy([rule()]);
    signers = { alice: await world.enrolledSigner(PEOPLE.alice), bob: await world.enrolledSigner(PEOPLE.bob), dave: await world.enrolledSigner(PEOPLE.dave) };
    await world.settle();
  });
  afterEach(() => world.dispose());

  it('merges exactly once with the rule\'s strategy when two signatures complete the quorum at once', async () => {
    await world.sign(signers.alice);
    await world.settle();
    expect(world.repo.merges ?? []).toEqual([]);
    world.host.latency = { kvs: 4, bitbucket: 6 };
    const [bob, dave] = await Promise.all([world.sign(signers.bob), world.sign(signers.dave)]);
    expect([bob, dave]).toMatchObject([{ ok: true }, { ok: true }]);
    // Every decision queued its re-evaluation; events from Bitbucket arrive at the same moment.
    await Promise.all([world.settle(), world.prEvent(), world.prEvent('avi:bitbucket:updated:pullrequest-reviewer-status')]);
    await world.prEvent('avi:bitbucket:fulfilled:pullrequest');
    expect(world.repo.merges).toEqual([{ pullRequest: 1, strategy: 'squash', commit: world.head, mergeCommit: expect.stringMatching(/^[0-9a-f]{40}$/) }]);
    expect(mergeCalls(world)).toBe(1);
    const ledger = await events(world);
    expect(ledger.filter((e) => e.type === 'automerge.attempted')).toHaveLength(1);
    const merges = ledger.filter((e) => e.type.startsWith('merge.'));
    // The squash wrote a new commit: the record names it in full, beside the head that was judged.
    expect(merges).toEqual([expect.objectContaining({ type: 'merge.recorded', mergedBy: 'countersign', bypassed: false, mergeCommit: world.repo.merges![0]!.mergeCommit })]);
    expect(merges[0].mergeCommit).not.toBe(world.head);
  });

  it("keeps the merge commit the merge's own answer names, in full, even when the merged pull request cannot be read back", async () => {
    await world.sign(signers.alice);
    const read = world.deps.bitbucket.getPullRequest.bind(world.deps.bitbucket);
    const merge = world.deps.bitbucket.mergePullRequest.bind(world.deps.bitbucket);
    let merged = false;
    world.deps.bitbucket.mergePullRequest = async (...args) => {
      const outcome = await merge(...args);
      merged = true;
      return outcome;
    };
    world.deps.bitbucket.getPullRequest = async (...args) => {
      if (merged) throw new Error('Bitbucket is down');
      return read(...args);
    };
    try {
      await world.sign(signers.bob);
      await world.settle();
    } finally {
      world.deps.bitbucket.getPullRequest = read;
      world.deps.bitbucket.mergePullRequest = merge;
    }
    const full = world.repo.merges![0]!.mergeCommit!;
    // Bitbucket's answer abbreviates it; the commit is read to have it in full.
    expect(world.host.calls.bitbucket.some((c) => c.includes(`/commit/${full.slice(0, 12)}`))).toBe(true);
    const merges = (await events(world)).filter((e) => e.type.startsWith('merge.'));
    expect(merges).toEqual([expect.objectContaining({ type: 'merge.recorded', mergeCommit: full })]);
  });

  it('records the merge without a merge commit, rather than not at all, when Bitbucket cannot give it in full', async () => {
    await world.sign(signers.alice);
    const resolve = world.deps.bitbucket.resolveCommit.bind(world.deps.bitbucket);
    world.deps.bitbucket.resolveCommit = async () => {
      throw new Error('Bitbucket is down');
    };
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      await world.sign(signers.bob);
      await world.settle();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('is recorded without it'));
    } finally {
      world.deps.bitbucket.resolveCommit = resolve;
      warn.mockRestore();
    }
    expect(world.pr.state).toBe('MERGED');
    const merges = (await events(world)).filter((e) => e.type.startsWith('merge.'));
    expect(merges).toEqual([expect.objectContaining({ type: 'merge.recorded', mergedBy: 'countersign' })]);
    expect(merges[0]).not.toHaveProperty('mergeCommit');
  });

  it('records a merge as bypassed when a push landed between the last read and the merge', async () => {
    await world.sign(signers.alice);
    const merge = world.deps.bitbucket.mergePullRequest.bind(world.deps.bitbucket);
    let pushed = '';
    world.deps.bitbucket.mergePullRequest = async (...args) => {
      pushed = world.push('unsigned');
      return merge(...args);
    };
    await world.sign(signers.bob);
    await world.settle();
    world.deps.bitbucket.mergePullRequest = merge;
    expect(world.pr.state).toBe('MERGED');
    const merges = (await events(world)).filter((e) => e.type.startsWith('merge.'));
    expect(merges).toEqual([expect.objectContaining({ type: 'merge.bypassed', mergedBy: 'countersign', bypassed: true, facts: expect.objectContaining({ headCommit: pushed }) })]);
  });

  it('follows a 202 and its task to the end', async () => {
    world.repo.mergeTaskPolls = 3;
    await world.sign(signers.alice);
    await world.sign(signers.bob);
    await world.settle();
    expect(world.pr.state).toBe('MERGED');
    expect(world.host.calls.bitbucket.filter((c) => c.includes('/merge/task-status/'))).toHaveLength(4);
    const recorded = (await events(world)).filter((e) => e.type === 'merge.recorded');
    expect(recorded).toHaveLength(1);
    // Named by the task's merge_result.
    expect(recorded[0].mergeCommit).toBe(world.repo.merges![0]!.mergeCommit);
  });

  it('records a refused merge, shows it on the card, and does not try again for that commit', async () => {
    world.repo.refuseMergesWith = { status: 409, message: 'Merge conflict in src/refunds.ts' };
    await world.sign(signers.alice);
    await world.sign(signers.bob);
    await world.settle();
    await world.prEvent();
    await world.prEvent('avi:bitbucket:updated:pullrequest-reviewer-status');
    expect(mergeCalls(world)).toBe(1);
    expect(world.pr.state).toBe('OPEN');
    const failed = (await events(world)).filter((e) => e.type === 'automerge.failed');
    expect(failed).toEqual([expect.objectContaining({ strategy: 'squash', reason: expect.stringContaining('Merge conflict in src/refunds.ts') })]);
    const panel = await world.ok('getPanelState', PEOPLE.alice);
    expect(panel.autoMerge).toMatchObject({ state: 'failed', commit: world.head, reason: expect.stringContaining('409') });
    // The status still says the quorum is met: only the merge failed.
    expect(world.status()?.state).toBe('SUCCESSFUL');
  });

  it('does not merge while the quorum is unmet, nor after a rejection', async () => {
    await world.sign(signers.alice);
    await world.sign(signers.dave, 'reject');
    await world.sign(signers.bob);
    await world.settle();
    expect(mergeCalls(world)).toBe(0);
    expect(world.status()?.state).toBe('FAILED');
  });
});

describe('merges on the record', () => {
  let world: World;
  beforeEach(async () => {
    world = new World();
    await world.savePolicy([aRule()]);
  });
  afterEach(() => world.dispose());

  it('records the verdict at merge, the approvals that counted and the facts, enough to re-run the assessment', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    const bob = await world.enrolledSigner(PEOPLE.bob);
    await world.sign(alice);
    await world.sign(bob);
    await world.settle();
    world.pr.state = 'MERGED';
    await world.prEvent('avi:bitbucket:fulfilled:pullrequest');
    await world.prEvent('avi:bitbucket:fulfilled:pullrequest');
    const ledger = await world.deps.ledger.readLedger(REPOSITORY);
    const all = ledger.map((e) => readEntry(e)!);
    const merges = all.filter((e) => e.event.type.startsWith('merge.'));
    expect(merges).toHaveLength(1);
    const record = merges[0]!.event as any;
    expect(record).toMatchObject({ type: 'merge.recorded', mergedBy: 'bitbucket', bypassed: false, verdict: { pass: true }, facts: { headCommit: world.head, author: PEOPLE.author } });
    expect(record.counted.map((c: any) => c.signer)).toEqual([PEOPLE.alice, PEOPLE.bob].sort());

    // Offline: the decisions the record points at, the policy it names, and the facts re-run to the same verdict.
    const policy = all.map((e) => e.event as any).find((e) => e.type === 'policy.saved' && e.policy.hash === record.verdict.policy.hash).policy;
    const approvals = record.counted.map((c: any) => {
      const decision = all.find((e) => e.seq === c.entry)!.event as any;
      expect(decision).toMatchObject({ type: 'decision.accepted', signer: c.signer, keyId: c.keyId });
      return checkedApproval(c.signer, { ...c, targetBranch: decision.subject.targetBranch, issuedAt: '2026-11-22T10:00:00.000Z' }, { has: () => false });
    });
    const facts = { ...record.facts, workspace: WORKSPACE, repository: REPOSITORY, id: 1, title: '', names: {} };
    const rerun = evaluateQuorum({ policy, pr: facts, approvals });
    expect(rerun.pass).toBe(record.verdict.pass);
    expect(rerun.rules.flatMap((r) => r.requirements.flatMap((q) => q.counted)).sort()).toEqual(record.counted.map((c: any) => c.signer));
  });

  it('records and flags a merge made while the gate said no, and stops accepting signatures after it', async () => {
    const alice = await world.enrolledSigner(PEOPLE.alice);
    await world.sign(alice);
    const bob = await world.enrolledSigner(PEOPLE.bob);
    const statement = await world.statementFor(bob);
    world.pr.state = 'MERGED';
    await world.prEvent('avi:bitbucket:fulfilled:pullrequest');
    const bypassed = (await events(world)).filter((e) => e.type === 'merge.bypassed');
    expect(bypassed).toEqual([expect.objectContaining({ bypassed: true, verdict: expect.objectContaining({ pass: false, message: expect.stringContaining('1 of 2') }) })]);
    expect(await world.submit(bob, statement)).toMatchObject({ ok: false, code: 'PR_NOT_OPEN' });
    // The records stay.
    expect((await events(world)).filter((e) => e.type === 'decision.accepted')).toHaveLength(1);
  });

  it('records nothing for a declined pull request, and posts no status on it', async () => {
    await world.savePolicy([aRule({ commitStatus: true })]);
    await world.settle();
    const before = world.repo.statuses.length;
    world.pr.state = 'DECLINED';
    await world.prEvent('avi:bitbucket:rejected:pullrequest');
    expect(world.repo.statuses).toHaveLength(before);
    expect((await events(world)).some((e) => e.type.startsWith('merge.'))).toBe(false);
  });
});
