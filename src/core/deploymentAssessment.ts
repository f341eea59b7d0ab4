import * as z from 'zod/mini';
import type { Envelope } from './dsse';
import { verifyEnvelopeEcdsa } from './dsseVerify';
import { isTimely } from './assessment';
import { findingOf } from './deploymentGate';
import { requestFacts, type DeploymentRequest } from './deploymentRequest';
import type { DeploymentDecisionFacts } from './deploymentStatement';
import { environmentPolicyFor } from './environmentPolicy';
import { CountersignError, PolicyError, RequestError, VerificationError } from './errors';
import type { Policy } from './policy';
import { BitbucketUuid, FullCommitHash } from './formats';
import { readDeploymentFacts, SubmittedDecision } from './statementSchema';
import { revocationId, type KeyRecord } from './records';
import { shortCommit } from './subject';

/** Everything that can keep a deployment decision from being accepted, as one closed set. */
export type DeploymentSubmissionFinding =
  | 'wrong-signer'
  | 'wrong-workspace'
  | 'wrong-repository'
  | 'no-request'
  | 'not-pending'
  | 'wrong-environment'
  | 'wrong-commit'
  | 'unknown-key'
  | 'revoked-key'
  | 'bad-signature'
  | 'statement-time'
  | 'policy-changed'
  | 'not-gated'
  | 'not-eligible'
  | 'commit-author'
  | 'merger'
  | 'pipeline-starter';

/** Whether an account's deployment decision could count for this request, and if not, why. */
export type DeploymentEligibility = 'eligible' | 'not-gated' | 'not-eligible' | 'commit-author' | 'merger' | 'pipeline-starter';

/**
 * Whether `accountId` may sign for this deployment: the environment has a policy, they are in one of
 * its requirement groups, and separation of duties (judged by the gate's own `findingOf`, so the page,
 * submission and the gate never disagree) does not leave them out.
 */
export function deploymentEligibilityOf(policy: Policy | undefined, request: DeploymentRequest, accountId: string): DeploymentEligibility {
  const environment = environmentPolicyFor(policy?.environments, request.environment);
  if (!environment) return 'not-gated';
  if (!environment.requirements.some((r) => r.members.includes(accountId))) return 'not-eligible';
  const probe = { signer: accountId, keyId: '', decision: 'approve' as const, commit: request.commit, environment: request.environment, policy: '', issuedAt: '', seq: 0 };
  const finding = findingOf(probe, environment, requestFacts(request));
  return finding === 'commit-author' || finding === 'merger' || finding === 'pipeline-starter' ? finding : 'eligible';
}

/** What the caller, Bitbucket and storage say now, against which a deployment decision is judged. */
export interface DeploymentSubmission {
  caller: string;
  workspace: string;
  repository: string;
  /** The deployment the page asked to sign for (`environment` and `commit`), and its request as storage holds it. */
  target: { environment: string; commit: string };
  request: DeploymentRequest | undefined;
  policy: Policy | undefined;
  key: KeyRecord | undefined;
  revokedKeys: { has(revocationId: string): boolean };
  now: Date;
}

/**
 * Checks a submitted deployment envelope and the facts read from it, in the order `assessSubmission`
 * uses: who signed → where it applies → which request → which key → signature (over the exact bytes)
 * → freshness → which policy → eligibility and separation of duties. Throws the first finding.
 */
export async function assessDeploymentSubmission(envelope: Envelope, facts: DeploymentDecisionFacts, ctx: DeploymentSubmission): Promise<void> {
  const before = [checkSigner, checkScope, checkRequest, checkKey].map((check) => check(facts, ctx)).find(Boolean);
  if (before) throw deploymentRefusal(before, facts, ctx);
  const key = ctx.key!;
  if (!(await verifyEnvelopeEcdsa(envelope, key.publicKey, key.keyId))) throw deploymentRefusal('bad-signature', facts, ctx);
  const after = [checkTime, checkPolicy, checkEligibility].map((check) => check(facts, ctx)).find(Boolean);
  if (after) throw deploymentRefusal(after, facts, ctx);
}

/**
 * What the deployments page sends: one envelope, and which waiting deployment it is for (as the PR
 * card's context names its pull request), so a statement about another commit or environment is
 * refused by name instead of landing on another request.
 */
export const SubmittedDeploymentDecision = z.strictObject({
  envelope: SubmittedDecision.shape.envelope,
  deployment: z.strictObject({ environment: BitbucketUuid, commit: FullCommitHash }),
});
export type SubmittedDeploymentDecision = z.infer<typeof SubmittedDeploymentDecision>;

/** The deployment decision an envelope carries, read once from its exact payload bytes; INVALID_INPUT if it carries none. */
export function submittedDeploymentFacts(envelope: Envelope): DeploymentDecisionFacts {
  const facts = readDeploymentFacts(envelope);
  if (!facts) throw new RequestError('INVALID_INPUT', 'The envelope does not carry a Countersign deployment decision (in-toto Statement v1); nothing was stored.');
  return facts;
}

type Check = (facts: DeploymentDecisionFacts, ctx: DeploymentSubmission) => DeploymentSubmissionFinding | undefined;

const checkSigner: Check = (facts, ctx) => (facts.signer !== ctx.caller ? 'wrong-signer' : undefined);

const checkScope: Check = ({ subject }, ctx) =>
  subject.workspace !== ctx.workspace ? 'wrong-workspace' : subject.repository !== ctx.repository ? 'wrong-repository' : undefined;

const checkRequest: Check = ({ subject }, { request, target }) => {
  if (!request || request.environment !== target.environment || request.commit !== target.commit) return 'no-request';
  if (request.state !== 'pending') return 'not-pending';
  if (subject.environment !== request.environment) return 'wrong-environment';
  return subject.commit !== request.commit ? 'wrong-commit' : undefined;
};

const checkKey: Check = (facts, ctx) => {
  if (!ctx.key || ctx.key.keyId !== facts.keyId || ctx.key.accountId !== ctx.caller) return 'unknown-key';
  return ctx.revokedKeys.has(revocationId(ctx.caller, facts.keyId)) ? 'revoked-key' : undefined;
};

const checkTime: Check = (facts, ctx) => (isTimely(facts.issuedAt, ctx.now) ? undefined : 'statement-time');

const checkPolicy: Check = (facts, ctx) => (!ctx.policy || facts.policy !== ctx.policy.hash ? 'policy-changed' : undefined);

const checkEligibility: Check = (_facts, ctx) => {
  const eligibility = deploymentEligibilityOf(ctx.policy, ctx.request!, ctx.caller);
  return eligibility === 'eligible' ? undefined : eligibility;
};

/** The refusal a finding becomes at submission: a code and a sentence a person can act on. */
export function deploymentRefusal(finding: DeploymentSubmissionFinding, facts: DeploymentDecisionFacts, ctx: DeploymentSubmission): CountersignError {
  const { subject } = facts;
  const request = ctx.request;
  const environment = request?.environmentName ?? 'this environment';
  switch (finding) {
    case 'wrong-signer':
      return new VerificationError('WRONG_SIGNER', 'The statement names another person as signer; you can only sign as yourself.');
    case 'wrong-workspace':
      return new VerificationError('WRONG_WORKSPACE', 'The statement is for another workspace.');
    case 'wrong-repository':
      return new VerificationError('WRONG_REPOSITORY', 'The statement is for another repository.');
    case 'no-request':
      return new RequestError('NOT_FOUND', `No pipeline has asked to deploy ${shortCommit(ctx.target.commit)} to this environment; reload the page to see the deployments waiting.`);
    case 'not-pending':
      return new PolicyError('DEPLOYMENT_NOT_PENDING', `The deployment of ${shortCommit(request!.commit)} to ${environment} was already allowed; there is nothing left to sign.`);
    case 'wrong-environment':
      return new VerificationError('WRONG_ENVIRONMENT', `The statement is for another environment than ${environment}; reload the page and sign again.`);
    case 'wrong-commit':
      return new VerificationError('WRONG_COMMIT', `You signed commit ${shortCommit(subject.commit)}, but this deployment is of ${shortCommit(request!.commit)}; review it and sign again.`);
    case 'unknown-key':
      return new VerificationError('UNKNOWN_KEY', 'That signing key is not enrolled to your account; enrol this device on a pull request’s Countersign card first.');
    case 'revoked-key':
      return new VerificationError('KEY_REVOKED', `The key "${ctx.key?.label ?? facts.keyId}" was revoked; enrol a new key on this device to sign.`);
    case 'bad-signature':
      return new VerificationError('BAD_SIGNATURE', 'The signature does not verify against your enrolled key; nothing was stored.');
    case 'statement-time':
      return new VerificationError('STATEMENT_TIME', 'The statement time is too far from the server clock; check your device clock and sign again.');
    case 'policy-changed':
      return new VerificationError('POLICY_CHANGED', 'The repository policy changed while you were signing; reload and sign again.');
    case 'not-gated':
      return new PolicyError('NOT_GATED', `No Countersign policy covers ${environment}, so there is nothing to sign.`);
    case 'not-eligible':
      return new PolicyError('NOT_ELIGIBLE', `You are not in any approver group for ${environment}, so your signature would not count.`);
    case 'commit-author':
      return new PolicyError('COMMIT_AUTHOR', `You authored commit ${shortCommit(request!.commit)}; the policy for ${environment} does not let its author approve deploying it.`);
    case 'merger':
      return new PolicyError('DEPLOY_MERGER', `You merged the pull request that brought ${shortCommit(request!.commit)}; the policy for ${environment} does not let the merger approve deploying it.`);
    case 'pipeline-starter':
      return new PolicyError('DEPLOY_STARTER', `You started the pipeline that deploys ${shortCommit(request!.commit)}; the policy for ${environment} does not let whoever started it approve it.`);
  }
}
