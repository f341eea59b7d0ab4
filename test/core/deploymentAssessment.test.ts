import {
  assessDeploymentSubmission,
  buildDeploymentStatement,
  buildPolicy,
  deploymentEligibilityOf,
  deploymentId,
  deploymentStatementPayload,
  IN_TOTO_PAYLOAD_TYPE,
  parseEnvironments,
  PolicyError,
  readDeploymentFacts,
  RequestError,
  revocationId,
  signEnvelopeEcdsa,
  VerificationError,
  type DeploymentDecisionFacts,
  type DeploymentRequest,
  type DeploymentSubmission,
  type Policy,
} from '../../src/core';
import { aSigner, commitHash, PEOPLE, REPOSITORY, WORKSPACE, type Signer } from '../fixtures/world';
import { aProductionPolicy, PIPELINE, PRODUCTION, STAGING } from '../fixtures/deploymentRequests';

const NOW = new Date('2026-11-22T10:00:00.000Z');
const COMMIT = commitHash('release-1');

function aRequest(overrides: Partial<DeploymentRequest> = {}): DeploymentRequest {
  return {
    id: deploymentId({ environment: PRODUCTION, commit: COMMIT }),
    environment: PRODUCTION,
    environmentName: 'Production',
    commit: COMMIT,
    pipeline: PIPELINE,
    commitAuthor: PEOPLE.author,
    pipelineStarter: PEOPLE.carol,
    merge: { pullRequest: 1, gated: true, pass: true, merger: PEOPLE.dave, entry: 1 },
    requestedAt: NOW.toISOString(),
    state: 'pending',
    entry: 2,
    ...overrides,
  };
}

describe('assessDeploymentSubmission', () => {
  let alice: Signer;
  let policy: Policy;

  beforeAll(async () => {
    alice = await aSigner(PEOPLE.alice);
    policy = await buildPolicy({ version: 1, rules: [], environments: parseEnvironments([aProductionPolicy()]), savedAt: NOW.toISOString(), savedBy: PEOPLE.admin });
  });

  function factsFor(signer: Signer, overrides: Partial<DeploymentDecisionFacts> & { environment?: string; commit?: string } = {}): DeploymentDecisionFacts {
    const { environment = PRODUCTION, commit = COMMIT, ...rest } = overrides;
    return {
      subject: { kind: 'deployment', workspace: WORKSPACE, repository: REPOSITORY, environment, commit },
      decision: 'approve',
      policy: policy.hash,
      signer: signer.accountId,
      keyId: signer.keyId,
      issuedAt: NOW.toISOString(),
      challenge: 'c'.repeat(43),
      ...rest,
    };
  }

  function context(signer: Signer, overrides: Partial<DeploymentSubmission> = {}): DeploymentSubmission {
    return {
      caller: signer.accountId,
      workspace: WORKSPACE,
      repository: REPOSITORY,
      target: { environment: PRODUCTION, commit: COMMIT },
      request: aRequest(),
      policy,
      key: { keyId: signer.keyId, accountId: signer.accountId, publicKey: signer.publicKey, label: 'Laptop', createdAt: NOW.toISOString() },
      revokedKeys: new Set<string>(),
      now: NOW,
      ...overrides,
    };
  }

  async function assess(facts: DeploymentDecisionFacts, ctx: DeploymentSubmission, signer: Signer = alice) {
    const envelope = await signEnvelopeEcdsa(signer.keys.privateKey, signer.keyId, IN_TOTO_PAYLOAD_TYPE, deploymentStatementPayload(buildDeploymentStatement(facts)));
    // What the handler reads from the exact bytes is what the test built.
    expect(readDeploymentFacts(envelope)).toEqual(facts);
    return assessDeploymentSubmission(envelope, facts, ctx);
  }

  it('accepts an eligible approver’s statement for the pending request', async () => {
    await expect(assess(factsFor(alice), context(alice))).resolves.toBeUndefined();
  });

  it.each([
    ['a statement naming another signer', { signer: PEOPLE.bob }, {}, VerificationError, 'WRONG_SIGNER'],
    ['another workspace', {}, { workspace: '{44444444-4444-4444-8444-444444444444}' }, VerificationError, 'WRONG_WORKSPACE'],
    ['another repository', {}, { repository: '{33333333-3333-4333-8333-333333333333}' }, VerificationError, 'WRONG_REPOSITORY'],
    ['no request', {}, { request: undefined }, RequestError, 'NOT_FOUND'],
    ['a request already allowed', {}, { request: aRequest({ state: 'allowed' }) }, PolicyError, 'DEPLOYMENT_NOT_PENDING'],
    ['another environment', { environment: STAGING }, {}, VerificationError, 'WRONG_ENVIRONMENT'],
    ['another commit', { commit: commitHash('other') }, {}, VerificationError, 'WRONG_COMMIT'],
    ['no key', {}, { key: undefined }, VerificationError, 'UNKNOWN_KEY'],
    ['a revoked key', {}, { revokedKeys: new Set([revocationId(PEOPLE.alice, 'KEY')]) }, VerificationError, 'KEY_REVOKED'],
    ['an old statement', { issuedAt: '2026-11-22T09:49:59.000Z' }, {}, VerificationError, 'STATEMENT_TIME'],
    ['another policy', { policy: `sha256:${'1'.repeat(64)}` }, {}, VerificationError, 'POLICY_CHANGED'],
  ] as const)('refuses %s', async (_what, facts, ctx, kind, code) => {
    const c = context(alice, ctx as Partial<DeploymentSubmission>);
    // The revoked-key row names the signer's real key id.
    if ('revokedKeys' in ctx) c.revokedKeys = new Set([revocationId(PEOPLE.alice, alice.keyId)]);
    const attempt = assess(factsFor(alice, facts as Partial<DeploymentDecisionFacts>), c);
    await expect(attempt).rejects.toBeInstanceOf(kind);
    await expect(attempt).rejects.toMatchObject({ code });
  });

  it('refuses a signature by another key than the enrolled one', async () => {
    const other = await aSigner(PEOPLE.alice);
    const facts = factsFor(alice);
    const envelope = await signEnvelopeEcdsa(other.keys.privateKey, alice.keyId, IN_TOTO_PAYLOAD_TYPE, deploymentStatementPayload(buildDeploymentStatement(facts)));
    await expect(assessDeploymentSubmission(envelope, facts, context(alice))).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  it('checks the signature before time and policy, as merge approvals are', async () => {
    const other = await aSigner(PEOPLE.alice);
    const facts = factsFor(alice, { policy: `sha256:${'1'.repeat(64)}` });
    const envelope = await signEnvelopeEcdsa(other.keys.privateKey, alice.keyId, IN_TOTO_PAYLOAD_TYPE, deploymentStatementPayload(buildDeploymentStatement(facts)));
    await expect(assessDeploymentSubmission(envelope, facts, context(alice))).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });

  describe('eligibility and separation of duties', () => {
    it.each([
      ['the commit author', PEOPLE.author, 'COMMIT_AUTHOR'],
      ['the merger', PEOPLE.dave, 'DEPLOY_MERGER'],
      ['the pipeline starter', PEOPLE.carol, 'DEPLOY_STARTER'],
      ['a non-member', PEOPLE.outsider, 'NOT_ELIGIBLE'],
    ])('refuses %s', async (_who, accountId, code) => {
      const signer = await aSigner(accountId);
      await expect(assess(factsFor(signer), context(signer), signer)).rejects.toMatchObject({ code });
    });

    it('lets each exclusion be turned off by its toggle', async () => {
      const lenient = await buildPolicy({
        version: 2,
        rules: [],
        environments: parseEnvironments([aProductionPolicy({ excludeCommitAuthor: false, excludeMerger: false, excludePipelineStarter: false })]),
        savedAt: NOW.toISOString(),
        savedBy: PEOPLE.admin,
      });
      for (const accountId of [PEOPLE.author, PEOPLE.dave, PEOPLE.carol]) {
        expect(deploymentEligibilityOf(lenient, aRequest(), accountId)).toBe('eligible');
        const signer = await aSigner(accountId);
        await expect(assess(factsFor(signer, { policy: lenient.hash }), context(signer, { policy: lenient }), signer)).resolves.toBeUndefined();
      }
    });

    it('refuses where the environment has no policy', async () => {
      const request = aRequest({ environment: STAGING, id: deploymentId({ environment: STAGING, commit: COMMIT }) });
      const ctx = context(alice, { request, target: { environment: STAGING, commit: COMMIT } });
      await expect(assess(factsFor(alice, { environment: STAGING }), ctx)).rejects.toMatchObject({ code: 'NOT_GATED' });
      expect(deploymentEligibilityOf(policy, request, PEOPLE.alice)).toBe('not-gated');
    });
  });
});
