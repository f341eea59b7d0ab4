import fc from 'fast-check';
import { buildPolicy, evaluateQuorum, type CheckedApproval, type Policy, type PullRequestFacts, type Rule } from '../../src/core';
import { aRule, commitHash, PEOPLE, REPOSITORY, WORKSPACE } from '../fixtures/world';

const HEAD = commitHash('head');
const OLD = commitHash('old');

function aPullRequest(overrides: Partial<PullRequestFacts> = {}): PullRequestFacts {
  return {
    workspace: WORKSPACE,
    repository: REPOSITORY,
    id: 1,
    title: 'Change',
    state: 'OPEN',
    author: PEOPLE.author,
    sourceBranch: 'feature/x',
    targetBranch: 'main',
    headCommit: HEAD,
    commitAuthors: [PEOPLE.author],
    names: { [PEOPLE.alice]: 'Alice', [PEOPLE.bob]: 'Bob', [PEOPLE.carol]: 'Carol', [PEOPLE.dave]: 'Dave' },
    ...overrides,
  };
}

function anApproval(signer: string, overrides: Partial<CheckedApproval> = {}): CheckedApproval {
  return {
    signer,
    keyId: `key-${signer}`,
    decision: 'approve',
    commit: HEAD,
    targetBranch: 'main',
    policy: `sha256:${'0'.repeat(64)}`,
    issuedAt: '2026-11-22T10:00:00.000Z',
    seq: 1,
    ...overrides,
  };
}

const policyOf = (rules: Rule[]): Promise<Policy> => buildPolicy({ version: 1, rules, savedAt: 'x', savedBy: PEOPLE.admin });

const twoGroups = aRule({
  requirements: [
    { group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.dave], count: 2 },
    { group: 'Security', members: [PEOPLE.carol, PEOPLE.dave], count: 1 },
  ],
});

describe('evaluateQuorum', () => {
  it('says exactly what is missing', async () => {
    const verdict = evaluateQuorum({ policy: await policyOf([twoGroups]), pr: aPullRequest(), approvals: [anApproval(PEOPLE.alice)] });
    expect(verdict.pass).toBe(false);
    expect(verdict.message).toBe(`Countersign: Maintainers 1 of 2 signed (Alice); Security 0 of 1 signed — waiting for signatures on ${HEAD.slice(0, 7)}.`);
  });

  it('lets one signature count for every group its signer belongs to', async () => {
    const verdict = evaluateQuorum({ policy: await policyOf([twoGroups]), pr: aPullRequest(), approvals: [anApproval(PEOPLE.alice), anApproval(PEOPLE.dave)] });
    expect(verdict.pass).toBe(true);
    expect(verdict.rules[0]!.requirements.map((r) => r.counted)).toEqual([[PEOPLE.alice, PEOPLE.dave], [PEOPLE.dave]]);
  });

  describe('when one signer appears twice', () => {
    it('counts only the statement the server accepted last, whatever the device clocks said', async () => {
      const policy = await policyOf([aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice, PEOPLE.bob], count: 2 }] })]);
      const approvals = [anApproval(PEOPLE.alice, { issuedAt: '2026-11-22T10:09:00.000Z' }), anApproval(PEOPLE.alice, { keyId: 'other', seq: 2, decision: 'reject' })];
      const verdict = evaluateQuorum({ policy, pr: aPullRequest(), approvals });
      expect(verdict.rules[0]!.requirements[0]!.counted).toEqual([]);
      expect(verdict.rules[0]!.rejectedBy).toEqual([PEOPLE.alice]);
      expect(verdict.pass).toBe(false);
    });

    it('lets a doubtful entry win a tie, in either order', async () => {
      const policy = await policyOf([aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice], count: 1 }] })]);
      const sound = anApproval(PEOPLE.alice);
      const doubtful = anApproval(PEOPLE.alice, { problem: 'revoked-key' });
      for (const approvals of [[sound, doubtful], [doubtful, sound]]) {
        expect(evaluateQuorum({ policy, pr: aPullRequest(), approvals }).pass).toBe(false);
      }
    });
  });

  it.each([
    ['stale', anApproval(PEOPLE.alice, { commit: OLD }), 'stale'],
    ['for another target', anApproval(PEOPLE.alice, { targetBranch: 'develop' }), 'retargeted'],
    ['with a revoked key', anApproval(PEOPLE.alice, { problem: 'revoked-key' }), 'revoked-key'],
    ['by the author', anApproval(PEOPLE.author), 'author'],
  ])('does not count an approval %s, and says why', async (_what, approval, reason) => {
    const policy = await policyOf([aRule({ requirements: [{ group: 'M', members: [PEOPLE.alice, PEOPLE.author], count: 1 }] })]);
    const verdict = evaluateQuorum({ policy, pr: aPullRequest(), approvals: [approval] });
    expect(verdict.pass).toBe(false);
    expect(verdict.rules[0]!.requirements[0]!.notCounted).toEqual([{ accountId: approval.signer, reason }]);
  });

  it('excludes commit authors only when the rule says so', async () => {
    const members = [{ group: 'M', members: [PEOPLE.alice], count: 1 }];
    const pr = aPullRequest({ commitAuthors: [PEOPLE.author, PEOPLE.alice] });
    const lenient = evaluateQuorum({ policy: await policyOf([aRule({ requirements: members })]), pr, approvals: [anApproval(PEOPLE.alice)] });
    const strict = evaluateQuorum({ policy: await policyOf([aRule({ requirements: members, excludeCommitAuthors: true })]), pr, approvals: [anApproval(PEOPLE.alice)] });
    expect(lenient.pass).toBe(true);
    expect(strict.rules[0]!.requirements[0]!.notCounted).toEqual([{ accountId: PEOPLE.alice, reason: 'commit-author' }]);
  });

  it('lets a rejection block only when the rule says rejections block', async () => {
    const approvals = [anApproval(PEOPLE.alice), anApproval(PEOPLE.bob), anApproval(PEOPLE.dave, { decision: 'reject' })];
    const blocking = evaluateQuorum({ policy: await policyOf([aRule()]), pr: aPullRequest(), approvals });
    const lenient = evaluateQuorum({ policy: await policyOf([aRule({ rejectionsBlock: false })]), pr: aPullRequest(), approvals });
    expect(blocking.pass).toBe(false);
    expect(blocking.message).toContain('rejected by Dave');
    expect(lenient.pass).toBe(true);
  });

  it('requires every matching rule', async () => {
    const policy = await policyOf([aRule(), aRule({ branchPattern: '*', requirements: [{ group: 'Security', members: [PEOPLE.carol], count: 1 }] })]);
    const verdict = evaluateQuorum({ policy, pr: aPullRequest(), approvals: [anApproval(PEOPLE.alice), anApproval(PEOPLE.bob)] });
    expect(verdict.pass).toBe(false);
    expect(verdict.message).toContain('[main] Maintainers 2 of 2 signed');
    expect(verdict.message).toContain('[*] Security 0 of 1 signed');
  });

  it('does not gate a branch no rule covers, and says so', async () => {
    const verdict = evaluateQuorum({ policy: await policyOf([aRule()]), pr: aPullRequest({ targetBranch: 'develop' }), approvals: [] });
    expect(verdict).toMatchObject({ gated: false, pass: true, message: expect.stringContaining('"develop"') });
  });

  describe('names', () => {
    const withJordan = aRule({ requirements: [{ group: 'Maintainers', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.outsider], count: 2 }] });

    it('names a signer who is not a participant by the name recorded with their decision, never by account ID', async () => {
      const approvals = [anApproval(PEOPLE.alice), anApproval(PEOPLE.outsider, { signerName: 'Jordan Lee' })];
      const verdict = evaluateQuorum({ policy: await policyOf([withJordan]), pr: aPullRequest(), approvals });
      expect(verdict.message).toBe(`Countersign: approved on ${HEAD.slice(0, 7)} — Maintainers 2 of 2 signed (Alice, Jordan Lee).`);
      expect(verdict.message).not.toContain(PEOPLE.outsider);
      expect(verdict.names).toEqual({ [PEOPLE.alice]: 'Alice', [PEOPLE.outsider]: 'Jordan Lee' });
    });

    it('prefers the name Bitbucket gives now for the pull request’s people to the one recorded earlier', async () => {
      const approvals = [anApproval(PEOPLE.alice, { signerName: 'Alice (old name)' })];
      const verdict = evaluateQuorum({ policy: await policyOf([withJordan]), pr: aPullRequest(), approvals });
      expect(verdict.names[PEOPLE.alice]).toBe('Alice');
      expect(verdict.message).toContain('(Alice)');
    });

    it('names people whose signatures do not count, or who rejected, the same way', async () => {
      const approvals = [anApproval(PEOPLE.outsider, { commit: OLD, signerName: 'Jordan Lee' }), anApproval(PEOPLE.bob, { decision: 'reject' })];
      const verdict = evaluateQuorum({ policy: await policyOf([withJordan]), pr: aPullRequest({ names: { [PEOPLE.bob]: 'Bob' } }), approvals });
      expect(verdict.names).toEqual({ [PEOPLE.outsider]: 'Jordan Lee', [PEOPLE.bob]: 'Bob' });
      expect(verdict.message).toContain('rejected by Bob');
    });

    it('falls back to a neutral phrase with the account ID only when no name is known, and lists only who it mentions', async () => {
      const approvals = [anApproval(PEOPLE.outsider)];
      const verdict = evaluateQuorum({ policy: await policyOf([withJordan]), pr: aPullRequest(), approvals });
      expect(verdict.message).toContain(`Maintainers 1 of 2 signed (a signer (account ${PEOPLE.outsider}))`);
      expect(verdict.names).toEqual({});
    });
  });

  describe('wording', () => {
    const members = [PEOPLE.alice, PEOPLE.bob, PEOPLE.dave];

    it('says "3 signed, 2 needed" rather than "3 of 2" when more signed than needed', async () => {
      const policy = await policyOf([aRule({ requirements: [{ group: 'Maintainers', members, count: 2 }] })]);
      const verdict = evaluateQuorum({ policy, pr: aPullRequest(), approvals: members.map((m) => anApproval(m)) });
      expect(verdict.message).toBe(`Countersign: approved on ${HEAD.slice(0, 7)} — Maintainers 3 signed, 2 needed (Alice, Bob, Dave).`);
      expect(verdict.message).not.toMatch(/3 of 2/);
    });

    it('keeps "N of M signed" up to the count', async () => {
      const policy = await policyOf([aRule({ requirements: [{ group: 'Maintainers', members, count: 2 }] })]);
      const verdict = evaluateQuorum({ policy, pr: aPullRequest(), approvals: [anApproval(PEOPLE.alice), anApproval(PEOPLE.bob)] });
      expect(verdict.message).toContain('Maintainers 2 of 2 signed (Alice, Bob)');
    });

    it('says "waiting for signatures" once, and gives the card its notes as sentences that begin with a capital', async () => {
      const policy = await policyOf([twoGroups]);
      const approvals = [anApproval(PEOPLE.alice, { commit: OLD }), anApproval(PEOPLE.bob, { commit: OLD })];
      const verdict = evaluateQuorum({ policy, pr: aPullRequest(), approvals });
      expect(verdict.message.match(/waiting for signatures/g)).toHaveLength(1);
      expect(verdict.notes).toEqual(['2 signatures are for an older commit.']);
      const one = evaluateQuorum({ policy, pr: aPullRequest(), approvals: [anApproval(PEOPLE.alice, { commit: OLD })] });
      expect(one.notes).toEqual(['1 signature is for an older commit.']);
      for (const note of [...verdict.notes, ...one.notes]) expect(note).toMatch(/^[A-Z0-9]/);
    });

    it('has no notes when nothing is stale, when the quorum is met or when nothing is gated', async () => {
      const policy = await policyOf([twoGroups]);
      expect(evaluateQuorum({ policy, pr: aPullRequest(), approvals: [anApproval(PEOPLE.alice)] }).notes).toEqual([]);
      expect(evaluateQuorum({ policy, pr: aPullRequest(), approvals: [anApproval(PEOPLE.alice), anApproval(PEOPLE.dave)] }).notes).toEqual([]);
      expect(evaluateQuorum({ policy, pr: aPullRequest({ targetBranch: 'develop' }), approvals: [] })).toMatchObject({ notes: [], names: {} });
    });
  });

  describe('properties', () => {
    const pool = [PEOPLE.alice, PEOPLE.bob, PEOPLE.carol, PEOPLE.dave, PEOPLE.author];
    const outsiders = ['557058:x-1', '557058:x-2'];
    const approval = fc.record({
      signer: fc.constantFrom(...pool, ...outsiders),
      decision: fc.constantFrom('approve' as const, 'reject' as const),
      commit: fc.constantFrom(HEAD, OLD),
      problem: fc.constantFrom(undefined, 'revoked-key' as const),
      minute: fc.integer({ min: 0, max: 5 }),
      targetBranch: fc.constantFrom('main', 'develop'),
      policy: fc.constantFrom(`sha256:${'0'.repeat(64)}`, `sha256:${'1'.repeat(64)}`),
    }).map(({ signer, decision, commit, problem, minute, targetBranch, policy }) =>
      anApproval(signer, { decision, commit, targetBranch, policy, ...(problem ? { problem } : {}), seq: minute }),
    );
    const rule = fc.record({
      members: fc.subarray(pool, { minLength: 1 }),
      excludeAuthor: fc.boolean(),
      rejectionsBlock: fc.boolean(),
    }).chain(({ members, excludeAuthor, rejectionsBlock }) =>
      fc.integer({ min: 1, max: members.length }).map((count) => aRule({ excludeAuthor, rejectionsBlock, requirements: [{ group: 'G', members, count }] })),
    );

    it('never lets an added ineligible or stale approval turn a failing verdict into a passing one', async () => {
      await fc.assert(
        fc.asyncProperty(rule, fc.array(approval, { maxLength: 8 }), fc.constantFrom(...outsiders, ...pool), fc.boolean(), async (r, approvals, who, stale) => {
          const policy = await policyOf([r]);
          const before = evaluateQuorum({ policy, pr: aPullRequest(), approvals });
          fc.pre(!before.pass);
          const extra = stale ? anApproval(who, { commit: OLD, seq: 0 }) : anApproval(outsiders[0]!);
          const after = evaluateQuorum({ policy, pr: aPullRequest(), approvals: [...approvals, extra] });
          return !after.pass;
        }),
      );
    });

    it('gives the same verdict whatever the order of approvals', async () => {
      await fc.assert(
        fc.asyncProperty(rule, fc.array(approval, { maxLength: 8 }).chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }))), async (r, [list, shuffled]) => {
          const policy = await policyOf([r]);
          const a = evaluateQuorum({ policy, pr: aPullRequest(), approvals: list });
          const b = evaluateQuorum({ policy, pr: aPullRequest(), approvals: shuffled });
          return a.pass === b.pass && a.message === b.message;
        }),
      );
    });

    it('passes exactly when enough distinct, valid, current, eligible approvals exist and nothing blocks', async () => {
      await fc.assert(
        fc.asyncProperty(rule, fc.array(approval, { maxLength: 8 }), async (r, approvals) => {
          const policy = await policyOf([r]);
          const verdict = evaluateQuorum({ policy, pr: aPullRequest(), approvals });
          const latest = new Map<string, CheckedApproval>();
          const tie = (a: CheckedApproval) => JSON.stringify([a.problem ? 1 : 0, a.problem ?? '', a.decision, a.commit, a.targetBranch, a.policy, a.keyId, a.signerName ?? '']);
          for (const a of [...approvals].sort((x, y) => (x.seq === y.seq ? (tie(x) < tie(y) ? -1 : tie(x) > tie(y) ? 1 : 0) : x.seq - y.seq))) latest.set(a.signer, a);
          const requirement = r.requirements[0]!;
          const valid = [...latest.values()].filter(
            (a) => requirement.members.includes(a.signer) && !a.problem && a.commit === HEAD && a.targetBranch === 'main' && !(r.excludeAuthor && a.signer === PEOPLE.author),
          );
          const approvals_ = valid.filter((a) => a.decision === 'approve').length;
          const rejections = valid.filter((a) => a.decision === 'reject').length;
          return verdict.pass === (approvals_ >= requirement.count && !(r.rejectionsBlock && rejections > 0));
        }),
      );
    });
  });
});
