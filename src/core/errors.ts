/**
 * Every failure Countersign reports carries one of these codes and a sentence a person can act on.
 * Verification failures (something about a signature or statement is wrong) and policy shortfalls
 * (the statement is fine but does not satisfy the rules) are kept apart so callers can tell them apart.
 */
export type VerificationCode =
  | 'BAD_SIGNATURE'
  | 'WRONG_SIGNER'
  | 'UNKNOWN_KEY'
  | 'KEY_REVOKED'
  | 'CHALLENGE_INVALID'
  | 'CHALLENGE_EXPIRED'
  | 'CHALLENGE_USED'
  | 'WRONG_WORKSPACE'
  | 'WRONG_REPOSITORY'
  | 'WRONG_PULL_REQUEST'
  | 'WRONG_ENVIRONMENT'
  | 'WRONG_COMMIT'
  | 'WRONG_TARGET'
  | 'POLICY_CHANGED'
  | 'STATEMENT_TIME';

export type PolicyCode =
  | 'SELF_APPROVAL'
  | 'COMMIT_AUTHOR'
  | 'NOT_ELIGIBLE'
  | 'NOT_GATED'
  | 'PR_NOT_OPEN'
  /** A deployment approval by the person who merged the commit's pull request, or who started its pipeline. */
  | 'DEPLOY_MERGER'
  | 'DEPLOY_STARTER'
  /** The deployment was already allowed: nothing is waiting for a signature. */
  | 'DEPLOYMENT_NOT_PENDING';

export type RequestCode =
  | 'INVALID_INPUT'
  | 'INVALID_POLICY'
  | 'NOT_AUTHENTICATED'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'LIMIT_REACHED'
  | 'NOT_FOUND'
  | 'BITBUCKET_ERROR'
  | 'STORAGE_ERROR'
  /** The stored ledger does not check out (a signature, the chain or the sequence): nothing is derived from it. */
  | 'LEDGER_BROKEN'
  /** A genuine ledger entry whose event is not in the shape this version reads. */
  | 'MALFORMED_ENTRY'
  | 'INTERNAL';

/** Why a pipeline configuration is refused: it would deploy to a gated environment without passing the gate first. */
export type PipelineCode = 'GATE_OIDC_OFF' | 'GATE_AUDIENCE' | 'GATE_NO_SCRIPT' | 'GATE_AFTER_SCRIPT' | 'GATE_UNREADABLE';

/** Why the deployment gate says no to a genuine step: it is no deployment step, or what the environment's policy still needs. */
export type DeploymentCode = 'NOT_A_DEPLOYMENT_STEP' | 'REF_NOT_ALLOWED' | 'MERGE_REQUIRED' | 'DEPLOYMENT_REJECTED' | 'APPROVALS_MISSING';

export type ErrorCode = VerificationCode | PolicyCode | RequestCode | PipelineCode | DeploymentCode;

export class CountersignError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A statement or signature failed a check: the submission is refused and nothing is stored. */
export class VerificationError extends CountersignError {
  constructor(code: VerificationCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The statement is genuine but the policy does not let it count. */
export class PolicyError extends CountersignError {
  constructor(code: PolicyCode, message: string) {
    super(code, message);
  }
}

/** The request itself is unacceptable: bad input, missing permission, or a platform failure. */
export class RequestError extends CountersignError {
  constructor(code: RequestCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A pipeline configuration that would let a deployment to a gated environment skip Countersign's gate. */
export class PipelineRefusal extends CountersignError {
  constructor(code: PipelineCode, message: string) {
    super(code, message);
  }
}

/** The deployment gate's refusal of a genuine pipeline step. */
export class DeploymentRefusal extends CountersignError {
  constructor(code: DeploymentCode, message: string) {
    super(code, message);
  }
}

export function isCountersignError(error: unknown): error is CountersignError {
  return error instanceof CountersignError;
}
