import { createHash } from 'node:crypto';
import {
  autoMergeDue,
  buildPolicy,
  evaluateQuorum,
  fitDescription,
  hasIntactHash,
  parseRules,
  policyHash,
  statusFor,
  type Policy,
  type PullRequestFacts,
  type Rule,
} from '../../src/core';
import { aRule, commitHash, PEOPLE, REPOSITORY, WORKSPACE } from '../fixtures/world';
const now = new Date('2026-12-01T12:00:00.000Z');

const pr: PullRequestFacts = {
  workspace: WORKSPACE,
  repository: REPOSITORY,
  id: 7,
  title: 'Work',
  state: 'OPEN',
  author: PEOPLE.author,
  sourceBranch: 'feature/x',
  targetBranch: 'main',
  headCommit: commitHash('head'),
  commitAuthors: [PEOPLE.author],
  names: {},
};
const policyOf = (rules: Rule[]) => buildPolicy({ version: 1, rules, savedAt: '2026-11-22T10:00:00.000Z', savedBy: PEOPLE.admin });
const approval = (signer: string, decision: 'approve' | 'reject' = 'approve') => ({
  signer, keyId: 'k'.repeat(43), decision, commit: pr.headCommit, targetBranch: 'main', policy: `sha256:${'0'.repeat(64)}`, issuedAt: '2026-11-22T10:00:00.000Z', seq: 1,
});

describe('re-evaluation decisions (pure)', () => {
  let policy: Policy;
  beforeEach(async () => (policy = await policyOf([aRule({ commitStatus: true, autoMerge: true, mergeStrategy: 'fast_forward' })])));

  it('maps the verdict to INPROGRESS, SUCCESSFUL and FAILED, with the source branch and the PR URL', () => {
    const waiting = statusFor(pr, policy, evaluateQuorum({ policy, pr, approvals: [approval(PEOPLE.alice)] }), undefined);
    expect(waiting).toMatchObject({ state: 'INPROGRESS', refname: 'feature/x', url: expect.stringMatching(/\/pull-requests\/7$/), description: expect.stringContaining('1 of 2') });
    const met = evaluateQuorum({ policy, pr, approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)] });
    expect(statusFor(pr, policy, met, undefined)?.state).toBe('SUCCESSFUL');
    const rejected = evaluateQuorum({ policy, pr, approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob), approval(PEOPLE.dave, 'reject')] });
    expect(statusFor(pr, policy, rejected, undefined)?.state).toBe('FAILED');
  });

  it('posts nothing twice on one commit, but posts again on a new commit or a changed verdict', () => {
    const verdict = evaluateQuorum({ policy, pr, approvals: [] });
    const first = statusFor(pr, policy, verdict, undefined)!;
    const posted = { commit: pr.headCommit, state: first.state, description: first.description };
    expect(statusFor(pr, policy, verdict, posted)).toBeUndefined();
    expect(statusFor(pr, policy, verdict, { ...posted, commit: commitHash('older') })?.state).toBe('INPROGRESS');
    const met = evaluateQuorum({ policy, pr, approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)] });
    expect(statusFor(pr, policy, met, posted)?.state).toBe('SUCCESSFUL');
  });

  it('withdraws a status only where one was posted on this commit', async () => {
    const quiet = await policyOf([aRule({ commitStatus: false })]);
    const verdict = evaluateQuorum({ policy: quiet, pr, approvals: [] });
    expect(statusFor(pr, quiet, verdict, undefined)).toBeUndefined();
    expect(statusFor(pr, quiet, verdict, { commit: pr.headCommit, state: 'SUCCESSFUL', description: 'x' })?.state).toBe('STOPPED');
    expect(statusFor(pr, quiet, verdict, { commit: pr.headCommit, state: 'STOPPED', description: 'x' })).toBeUndefined();
  });

  it('cuts a long description to 255 characters on a word', () => {
    const text = `${'word '.repeat(80)}end`;
    const cut = fitDescription(text);
    expect(cut.length).toBeLessThanOrEqual(255);
    expect(cut).toMatch(/word…$/);
    expect(fitDescription('short')).toBe('short');
  });

  it('auto-merges an open, passing pull request once per head commit, with the rule\'s strategy', () => {
    const met = evaluateQuorum({ policy, pr, approvals: [approval(PEOPLE.alice), approval(PEOPLE.bob)] });
    expect(autoMergeDue(pr, policy, met, undefined, now)).toBe('fast_forward');
    expect(autoMergeDue(pr, policy, met, { commit: pr.headCommit, strategy: 'fast_forward', state: 'failed', at: '' }, now)).toBeUndefined();
    expect(autoMergeDue(pr, policy, met, { commit: commitHash('older'), strategy: 'fast_forward', state: 'failed', at: '' }, now)).toBe('fast_forward');
    expect(autoMergeDue({ ...pr, state: 'DECLINED' }, policy, met, undefined, now)).toBeUndefined();
    // A claim left attempting: in progress for a while, then taken as lost and tried again.
    const attempting = (minutesAgo: number) => ({ commit: pr.headCommit, strategy: 'fast_forward' as const, state: 'attempting' as const, at: new Date(now.getTime() - minutesAgo * 60_000).toISOString() });
    expect(autoMergeDue(pr, policy, met, attempting(9), now)).toBeUndefined();
    expect(autoMergeDue(pr, policy, met, attempting(11), now)).toBe('fast_forward');
    expect(autoMergeDue(pr, policy, evaluateQuorum({ policy, pr, approvals: [approval(PEOPLE.alice)] }), undefined, now)).toBeUndefined();
  });

  it('takes a merge strategy as Bitbucket names it, refuses others, and leaves earlier policies\' hashes as they were', async () => {
    expect(parseRules([aRule({ mergeStrategy: 'squash' })])[0]!.mergeStrategy).toBe('squash');
    expect(() => parseRules([{ ...aRule(), mergeStrategy: 'octopus' }])).toThrow(/mergeStrategy/);
    const [rule] = parseRules([{ branchPattern: 'main', requirements: [{ group: 'M', members: [PEOPLE.alice], count: 1 }] }]);
    expect(rule).not.toHaveProperty('mergeStrategy');
    const before = await buildPolicy({ version: 1, rules: [rule!], savedAt: '2026-11-22T10:00:00.000Z', savedBy: PEOPLE.admin });
    expect(before.hash).toBe(await policyHash(1, parseRules(JSON.parse(JSON.stringify([rule])))));
    // The bytes a policy saved before merge strategies existed was hashed over, written out by hand.
    const earlier = `{"rules":[{"autoMerge":false,"branchPattern":"main","commitStatus":false,"excludeAuthor":true,"excludeCommitAuthors":false,"rejectionsBlock":true,"requirements":[{"count":1,"group":"M","members":[${JSON.stringify(PEOPLE.alice)}]}]}],"version":1}`;
    expect(before.hash).toBe(`sha256:${createHash('sha256').update(earlier).digest('hex')}`);
    expect(await hasIntactHash(before)).toBe(true);
  });
});
