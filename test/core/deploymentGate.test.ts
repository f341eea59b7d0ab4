import fc from 'fast-check';
import { buildPolicy, evaluateDeployment, mergeToKeep, type CheckedDeploymentApproval, type DeploymentFacts, type EnvironmentPolicyInput, EnvironmentPolicy, type Policy } from '../../src/core';
import { aRule, commitHash, PEOPLE } from '../fixtures/world';

const PRODUCTION = '{7e1d0c3a-2b4f-4c5d-8e9f-0a1b2c3d4e5f}';
const STAGING = '{5a5a5a5a-2b4f-4c5d-8e9f-0a1b2c3d4e5f}';
const COMMIT = commitHash('release');
const NAMES = { [PEOPLE.alice]: 'Alice', [PEOPLE.bob]: 'Bob', [PEOPLE.carol]: 'Carol', [PEOPLE.dave]: 'Dave' };

function production(overrides: Partial<EnvironmentPolicyInput> = {}): EnvironmentPolicy {
  return EnvironmentPolicy.parse({
    environment: PRODUCTION,
    name: 'Production',
    requirements: [{ group: 'Release managers', members: [PEOPLE.alice, PEOPLE.bob, PEOPLE.carol], count: 2 }],
    tags: ['v*', 'release-*'],
    ...overrides,
  });
}

const policyWith = (...environments: EnvironmentPolicy[]): Promise<Policy> =>
  buildPolicy({ version: 3, rules: [aRule()], environments, savedAt: '2026-12-02T00:00:00.000Z', savedBy: PEOPLE.admin });

function facts(overrides: Partial<DeploymentFacts> = {}): DeploymentFacts {
  return { environment: { uuid: PRODUCTION, name: 'Production' }, commit: COMMIT, ref: { type: 'tag', name: 'v1.4.0' }, commitAuthor: PEOPLE.dave, pipelineStarter: PEOPLE.dave, ...overrides };
}

function approval(signer: string, overrides: Partial<CheckedDeploymentApproval> = {}): CheckedDeploymentApproval {
  return { signer, keyId: `key-${signer}`, decision: 'approve', commit: COMMIT, environment: PRODUCTION, policy: `sha256:${'0'.repeat(64)}`, issuedAt: '2026-12-02T10:00:00.000Z', seq: 1, ...overrides };
}

describe('evaluateDeployment', () => {
  it('passes with the quorum, naming who approved', async () => {
    const verdict = evaluateDeployment({ policy: await policyWith(production()), facts: facts(), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)], names: NAMES });
    expect(verdict).toMatchObject({ gated: true, pass: true, approvedBy: [PEOPLE.alice, PEOPLE.bob], missing: [] });
    expect(verdict.message).toBe(`Countersign: approved to deploy ${COMMIT.slice(0, 7)} to Production — Release managers 2 of 2 signed (Alice, Bob).`);
  });

  it('says what is missing, one sentence each', async () => {
    const verdict = evaluateDeployment({ policy: await policyWith(production()), facts: facts(), approvals: [approval(PEOPLE.alice)], names: NAMES });
    expect(verdict.pass).toBe(false);
    expect(verdict.missing).toEqual(['Release managers: 1 of 2 signed.']);
    expect(verdict.message).toContain('may not deploy to Production yet');
  });

  it('does not gate an environment without a policy, and says so', async () => {
    const verdict = evaluateDeployment({ policy: await policyWith(production()), facts: facts({ environment: { uuid: STAGING, name: 'Staging' } }), approvals: [] });
    expect(verdict).toMatchObject({ gated: false, pass: true });
    expect(verdict.message).toContain('no policy covers the environment "Staging"');
  });

  it('refuses a ref outside the allowed patterns, however many signed', async () => {
    const verdict = evaluateDeployment({ policy: await policyWith(production()), facts: facts({ ref: { type: 'branch', name: 'main' } }), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)] });
    expect(verdict.pass).toBe(false);
    expect(verdict.refAllowed).toBe(false);
    expect(verdict.missing[0]).toBe('Production deploys only from tags v*, release-*; this pipeline runs for branch "main".');
    const other = evaluateDeployment({ policy: await policyWith(production()), facts: facts({ ref: { type: 'tag', name: 'nightly-3' } }), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)] });
    expect(other.pass).toBe(false);
  });

  it("does not count the commit author's, the merger's or the pipeline starter's own approval", async () => {
    const policy = await policyWith(production());
    const merge = { pullRequest: 7, gated: true, pass: true, merger: PEOPLE.bob };
    const cases: [Partial<DeploymentFacts>, string][] = [
      [{ commitAuthor: PEOPLE.alice }, 'commit-author'],
      [{ merge }, 'merger'],
      [{ pipelineStarter: PEOPLE.alice, merge: { ...merge, merger: PEOPLE.alice } }, 'merger'],
      [{ pipelineStarter: PEOPLE.bob }, 'pipeline-starter'],
    ];
    for (const [overrides, reason] of cases) {
      const verdict = evaluateDeployment({ policy, facts: facts(overrides), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)] });
      expect(verdict.pass).toBe(false);
      expect(verdict.requirements[0]!.notCounted.map((n) => n.reason)).toEqual([reason]);
    }
  });

  it("does not count the merged pull request's author or its commits' authors: the deployed commit's git author is usually whoever merged", async () => {
    const policy = await policyWith(production({ excludeMerger: false, excludePipelineStarter: false }));
    const merge = { pullRequest: 7, gated: true, pass: true, merger: PEOPLE.carol, author: PEOPLE.alice, commitAuthors: [PEOPLE.bob, PEOPLE.dave], targetBranch: 'main' };
    const verdict = evaluateDeployment({ policy, facts: facts({ commitAuthor: PEOPLE.carol, merge }), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob), approval(PEOPLE.carol)] });
    expect(verdict.pass).toBe(false);
    expect(verdict.requirements[0]!.notCounted).toEqual([
      { accountId: PEOPLE.alice, reason: 'commit-author' },
      { accountId: PEOPLE.bob, reason: 'commit-author' },
      { accountId: PEOPLE.carol, reason: 'commit-author' },
    ]);
  });

  it("fails closed when Bitbucket maps the commit's author to no account and no merge record names the authors", async () => {
    const policy = await policyWith(production());
    const signed = [approval(PEOPLE.alice), approval(PEOPLE.bob)];
    const { commitAuthor: _none, ...unmapped } = facts();
    const verdict = evaluateDeployment({ policy, facts: unmapped, approvals: signed });
    expect(verdict.pass).toBe(false);
    expect(verdict.missing).toEqual([
      `Bitbucket maps the author of commit ${COMMIT.slice(0, 7)} to no account, so Countersign cannot keep them from approving its deployment; link the author's email address to their Bitbucket account, or turn off excluding the commit's author for Production.`,
    ]);
    expect(evaluateDeployment({ policy: await policyWith(production({ excludeCommitAuthor: false })), facts: unmapped, approvals: signed }).pass).toBe(true);
    const merge = { pullRequest: 7, gated: true, pass: true, author: PEOPLE.carol, commitAuthors: [PEOPLE.carol], targetBranch: 'main' };
    expect(evaluateDeployment({ policy, facts: { ...unmapped, merge }, approvals: signed }).pass).toBe(true);
  });

  it('says a tag or branch that does not point at the commit is no ref', async () => {
    const policy = await policyWith(production({ branches: ['main'] }));
    const signed = [approval(PEOPLE.alice), approval(PEOPLE.bob)];
    const { ref: _ref, ...bare } = facts();
    const tag = evaluateDeployment({ policy, facts: { ...bare, unverifiedRef: { type: 'tag', name: 'v9.9.9' } }, approvals: signed });
    expect(tag).toMatchObject({ pass: false, refAllowed: false });
    expect(tag.missing[0]).toContain('tag "v9.9.9", but that tag does not point at commit');
    const branch = evaluateDeployment({ policy, facts: { ...bare, unverifiedRef: { type: 'branch', name: 'main' } }, approvals: signed });
    expect(branch.missing[0]).toContain('the branch has moved on (or is gone), so deploy its head');
  });

  it("takes a merge only into a branch the environment's branch patterns match; with none, any gated passing merge", async () => {
    const signed = [approval(PEOPLE.alice), approval(PEOPLE.bob)];
    const merge = (targetBranch?: string) => ({ pullRequest: 7, gated: true, pass: true, author: PEOPLE.carol, commitAuthors: [], ...(targetBranch ? { targetBranch } : {}) });
    const anyBranch = await policyWith(production({ requireMergedPullRequest: true }));
    expect(evaluateDeployment({ policy: anyBranch, facts: facts({ merge: merge('feature/x') }), approvals: signed })).toMatchObject({ pass: true, merge: 'met' });
    const onMain = await policyWith(production({ requireMergedPullRequest: true, branches: ['main'] }));
    const elsewhere = evaluateDeployment({ policy: onMain, facts: facts({ merge: merge('feature/x') }), approvals: signed });
    expect(elsewhere).toMatchObject({ pass: false, merge: 'other-branch' });
    expect(elsewhere.missing).toEqual([`Commit ${COMMIT.slice(0, 7)} was merged in pull request #7 into branch "feature/x", but Production takes merges only into branches main.`]);
    expect(evaluateDeployment({ policy: onMain, facts: facts({ merge: merge() }), approvals: signed })).toMatchObject({ pass: false, merge: 'other-branch' });
    expect(evaluateDeployment({ policy: onMain, facts: facts({ merge: merge('main') }), approvals: signed })).toMatchObject({ pass: true, merge: 'met' });
  });

  it('keeps the first merge of a commit unless a later gated, passing one replaces one that was not', () => {
    const bypassed = { gated: true, pass: false, n: 1 };
    const passing = { gated: true, pass: true, n: 2 };
    const later = { gated: true, pass: true, n: 3 };
    expect(mergeToKeep(undefined, bypassed)).toBe(bypassed);
    expect(mergeToKeep(bypassed, passing)).toBe(passing);
    expect(mergeToKeep(passing, bypassed)).toBe(passing);
    expect(mergeToKeep(passing, later)).toBe(passing);
    expect(mergeToKeep({ gated: false, pass: true, n: 0 }, passing)).toBe(passing);
  });

  it('counts them when the policy lets it', async () => {
    const policy = await policyWith(production({ excludeCommitAuthor: false, excludePipelineStarter: false }));
    const verdict = evaluateDeployment({ policy, facts: facts({ commitAuthor: PEOPLE.alice, pipelineStarter: PEOPLE.bob }), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)] });
    expect(verdict.pass).toBe(true);
  });

  it('asks for a merge with its quorum when the policy requires one', async () => {
    const policy = await policyWith(production({ requireMergedPullRequest: true }));
    const signed = [approval(PEOPLE.alice), approval(PEOPLE.bob)];
    expect(evaluateDeployment({ policy, facts: facts(), approvals: signed })).toMatchObject({ pass: false, merge: 'missing' });
    expect(evaluateDeployment({ policy, facts: facts({ merge: { pullRequest: 7, gated: true, pass: false } }), approvals: signed })).toMatchObject({ pass: false, merge: 'unmet' });
    expect(evaluateDeployment({ policy, facts: facts({ merge: { pullRequest: 7, gated: false, pass: true } }), approvals: signed })).toMatchObject({ pass: false, merge: 'unmet' });
    expect(evaluateDeployment({ policy, facts: facts({ merge: { pullRequest: 7, gated: true, pass: true } }), approvals: signed })).toMatchObject({ pass: true, merge: 'met' });
  });

  it('blocks on a rejection, counts no revoked key and no decision about another deployment', async () => {
    const policy = await policyWith(production());
    const rejected = evaluateDeployment({ policy, facts: facts(), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob), approval(PEOPLE.carol, { decision: 'reject' })], names: NAMES });
    expect(rejected).toMatchObject({ pass: false, rejectedBy: [PEOPLE.carol] });
    expect(rejected.missing).toContain('Rejected by Carol.');
    const revoked = evaluateDeployment({ policy, facts: facts(), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob, { problem: 'revoked-key' })] });
    expect(revoked.pass).toBe(false);
    const elsewhere = evaluateDeployment({ policy, facts: facts(), approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob, { commit: commitHash('other') }), approval(PEOPLE.carol, { environment: STAGING })] });
    expect(elsewhere.pass).toBe(false);
    expect(elsewhere.requirements[0]!.notCounted.map((n) => n.reason)).toEqual(['other-deployment', 'other-deployment']);
  });

  it("takes each signer's latest decision, whatever order they come in", async () => {
    const policy = await policyWith(production());
    fc.assert(
      fc.property(fc.boolean(), (rejectLast) => {
        const first = approval(PEOPLE.alice, { seq: 1, decision: rejectLast ? 'approve' : 'reject' });
        const last = approval(PEOPLE.alice, { seq: 2, decision: rejectLast ? 'reject' : 'approve' });
        for (const order of [[first, last], [last, first]]) {
          const verdict = evaluateDeployment({ policy, facts: facts(), approvals: [...order, approval(PEOPLE.bob)] });
          expect(verdict.pass).toBe(!rejectLast);
        }
      }),
    );
  });

  it('keeps a policy without environments hashed as before', async () => {
    const before = await buildPolicy({ version: 1, rules: [aRule()], savedAt: 'x', savedBy: PEOPLE.admin });
    const withNone = await buildPolicy({ version: 1, rules: [aRule()], environments: [], savedAt: 'x', savedBy: PEOPLE.admin });
    const withOne = await buildPolicy({ version: 1, rules: [aRule()], environments: [production()], savedAt: 'x', savedBy: PEOPLE.admin });
    expect(before.environments).toBeUndefined();
    expect(new Set([before.hash, withNone.hash, withOne.hash]).size).toBe(3);
  });
});
