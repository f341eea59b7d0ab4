import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet } from 'jose';
import * as z from 'zod/mini';
import { RequestError } from './errors';
import { BitbucketUuid } from './formats';

/**
 * The identity a Bitbucket Pipelines step proves with its OIDC token (`oidc: true` in the step, read
 * from `BITBUCKET_STEP_OIDC_TOKEN`): which workspace, repository, pipeline and deployment environment
 * it is running for. Checked against what Countersign trusts, never against what the token says of
 * itself: the issuer and keys are the installation's workspace's, looked up by its UUID (slugs can be
 * renamed, and the issuer URL holds one), and the audience is the one the workspace set for Countersign.
 */

/** Seconds of clock difference tolerated between Bitbucket and the app on `exp`, `nbf` and `iat`. */
export const PIPELINES_CLOCK_SKEW_SECONDS = 60;

/** Algorithms Bitbucket signs step tokens with; `none` and HMAC are never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'];

const StepClaims = z.looseObject({
  workspaceUuid: BitbucketUuid,
  repositoryUuid: BitbucketUuid,
  pipelineUuid: BitbucketUuid,
  deploymentEnvironmentUuid: z.optional(BitbucketUuid),
  stepUuid: z.optional(BitbucketUuid),
});

export interface PipelinesIdentity {
  workspace: string;
  repository: string;
  pipeline: string;
  /** The deployment environment of the step; absent for a step that deploys nowhere. */
  environment?: string;
  step?: string;
  /** When the token stops being valid (RFC 3339). */
  expiresAt: string;
}

export interface PipelinesTrust {
  /** The issuer the workspace's OpenID configuration names (`…/workspaces/{workspace}/pipelines-config/identity/oidc`). */
  issuer: string;
  /** The audience Countersign's steps ask for (`oidc: audiences:` in the step). */
  audience: string;
  /** The installation's workspace UUID: the token must be this workspace's. */
  workspace: string;
  /** The workspace's published signing keys (its `keys.json`). */
  keys: JSONWebKeySet;
  now: Date;
}

/**
 * Verifies a step's token: signature against the workspace's keys, issuer, audience, expiry (with
 * `PIPELINES_CLOCK_SKEW_SECONDS`), and that it is the installation's workspace's. Throws
 * NOT_AUTHENTICATED with the reason in a sentence for anything else; never returns an unchecked claim.
 */
export async function verifyPipelinesToken(token: string, trust: PipelinesTrust): Promise<PipelinesIdentity> {
  if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
    throw refused('No Pipelines OIDC token was given; run the step with `oidc: true` and send $BITBUCKET_STEP_OIDC_TOKEN.');
  }
  let payload;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet(trust.keys), {
      issuer: trust.issuer,
      audience: trust.audience,
      algorithms: ALGORITHMS,
      currentDate: trust.now,
      clockTolerance: PIPELINES_CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp', 'iat'],
    }));
  } catch (error) {
    throw refused(reasonOf(error, trust));
  }
  // jose checks `nbf` and `exp`; a token dated ahead of the clock is as suspect as one not valid yet.
  if (Number(payload.iat) > trust.now.getTime() / 1000 + PIPELINES_CLOCK_SKEW_SECONDS) throw refused('The token is not valid yet (issued in the future); check the clock of whoever made it.');
  const claims = StepClaims.safeParse(payload);
  if (!claims.success) throw refused('The token is signed by Bitbucket but does not name its workspace, repository and pipeline as step tokens do.');
  if (claims.data.workspaceUuid !== trust.workspace) {
    throw refused(`The token is for workspace ${claims.data.workspaceUuid}, not the one Countersign is installed in.`);
  }
  const { repositoryUuid, pipelineUuid, deploymentEnvironmentUuid, stepUuid } = claims.data;
  return {
    workspace: claims.data.workspaceUuid,
    repository: repositoryUuid,
    pipeline: pipelineUuid,
    ...(deploymentEnvironmentUuid ? { environment: deploymentEnvironmentUuid } : {}),
    ...(stepUuid ? { step: stepUuid } : {}),
    expiresAt: new Date(Number(payload.exp) * 1000).toISOString(),
  };
}

function refused(message: string): RequestError {
  return new RequestError('NOT_AUTHENTICATED', message);
}

function reasonOf(error: unknown, trust: PipelinesTrust): string {
  if (error instanceof errors.JWTExpired) return 'The token has expired; Pipelines tokens last for the step that asked for them, so run the step again.';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return `The token was not issued by this workspace's Pipelines (${trust.issuer}).`;
    if (error.claim === 'aud') return `The token is not for Countersign: set \`oidc: audiences: [${trust.audience}]\` in the step.`;
    if (error.claim === 'nbf' || error.claim === 'iat') return 'The token is not valid yet; check the clock of whoever made it.';
    return `The token's ${error.claim} claim is not acceptable (${error.reason}).`;
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed) {
    return "The token's signature does not verify with this workspace's published Pipelines keys.";
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'The token is signed with an algorithm Bitbucket Pipelines does not use.';
  return 'The token is not a signed JWT that can be read.';
}

/** The audience a pipeline step asks for (`oidc: audiences:`) when it calls Countersign's deployment gate; tokens made for anything else are refused. */
export const DEPLOYMENT_GATE_AUDIENCE = 'countersign-deployment-gate';
