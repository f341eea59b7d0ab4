import { decodeProtectedHeader } from 'jose';
import * as z from 'zod/mini';
import {
  checkedDeploymentApproval,
  DEPLOYMENT_GATE_AUDIENCE,
  DeploymentRefusal,
  deploymentId,
  evaluateDeployment,
  FullCommitHash,
  hasIntactHash,
  isCountersignError,
  RequestError,
  requestFacts,
  shortCommit,
  VerificationError,
  verifyPipelinesToken,
  type DeploymentAllowance,
  type DeploymentCode,
  type DeploymentFacts,
  type DeploymentRequest,
  type DeploymentSubject,
  type DeploymentVerdict,
  type MergedCommit,
  type PipelinesIdentity,
} from '../core';
import type { DeploymentState, Deps, PipelineFacts } from '../ports';
import { installedWorkspace } from './requests';
import { toFailure } from './result';

/** What Forge hands a web trigger: header names as the caller sent them, each with its values. */
export interface WebTriggerRequest {
  method?: string;
  headers?: Record<string, string[] | undefined>;
  body?: string;
  path?: string;
  queryParameters?: Record<string, string[]>;
}

export interface WebTriggerResponse {
  statusCode: number;
  headers: Record<string, string[]>;
  body: string;
}

/** The gate's request body is `{"commit":"<40 hex>"}`; anything much longer is not one. */
const MAX_BODY = 1024;
const GateBody = z.strictObject({ commit: FullCommitHash });

/**
 * A Pipelines deployment step asks "may this commit deploy to my environment?" with its OIDC token.
 * The token is checked against the installation's workspace's issuer; what the step says of itself
 * beyond the commit is never used: the pipeline, the commit's author and the environment are read
 * from Bitbucket as the app, with the deployment's stored state, in one round. Answers 200/403 with
 * the verdict, 401 for any token problem, 503 when storage or Bitbucket cannot answer (fail closed).
 */
export async function gateDeployment(deps: Deps, request: WebTriggerRequest, context: unknown): Promise<WebTriggerResponse> {
  try {
    const workspace = installedWorkspace(context);
    const step = await verifyStep(deps, workspace, bearerToken(request.headers));
    if (!step.environment) {
      throw new DeploymentRefusal('NOT_A_DEPLOYMENT_STEP', 'This token is from a step that deploys nowhere; call the gate from the `deployment:` step itself, as its first command.');
    }
    const subject: DeploymentSubject = { kind: 'deployment', workspace, repository: step.repository, environment: step.environment, commit: commitOf(request) };
    const { pipeline, facts, state } = await readDeployment(deps, subject, step.pipeline);
    const verdict = evaluateDeployment({ policy: state.policy, facts, approvals: state.approvals.map(({ signer, record }) => checkedDeploymentApproval(signer, record, state.revokedKeys)) });
    if (!verdict.gated) return answer(200, { allowed: true, gated: false, message: verdict.message, approvedBy: [], request: null });

    const at = deps.now().toISOString();
    if (!verdict.pass) {
      // A request that was allowed and has lost its quorum since (a key revoked, a stricter policy) is pending again, so people can sign it again;
      // not when only this pipeline is refused (its ref, who started it) while the request's own pipeline would still pass.
      const reopened = state.request?.state === 'allowed' && !requestStillPasses(state.request, state) ? await deps.deployments.reopenDeploymentRequest(subject.repository, deploymentId(subject)) : state.request;
      // A request is for signatures: none is opened for a ref the environment does not deploy from, or a merge it still needs.
      const request = reopened ?? (signaturesCanFix(verdict) ? await openRequest(deps, subject, pipeline, facts, state.merge, at) : undefined);
      return answer(403, { allowed: false, code: refusalCode(verdict), message: verdict.message, missing: verdict.missing, request: request ? requestSummary(request) : null });
    }
    const pending = state.request ?? (await openRequest(deps, subject, pipeline, facts, state.merge, at));
    const allowed = allowance(verdict, state, facts);
    await deps.deployments.recordDeploymentAllowed(subject.repository, deploymentId(subject), pipeline.uuid, at, {
      type: 'deployment.allowed',
      subject,
      pipeline: pipeline.uuid,
      ...(step.step ? { step: step.step } : {}),
      verdict: allowed,
    });
    return answer(200, {
      allowed: true,
      gated: true,
      message: verdict.message,
      approvedBy: verdict.approvedBy.map((accountId) => ({ accountId, name: verdict.names[accountId] ?? null })),
      request: requestSummary({ ...pending, state: 'allowed', allowedAt: pending.allowedAt ?? at }),
    });
  } catch (error) {
    return failure(error);
  }
}

/** The one `Authorization: Bearer …` header, whatever the case of its name. */
function bearerToken(headers: WebTriggerRequest['headers']): string {
  const values = Object.entries(headers ?? {}).flatMap(([name, value]) => (name.toLowerCase() === 'authorization' ? (Array.isArray(value) ? value : [value]) : []));
  const match = values.length === 1 && typeof values[0] === 'string' ? /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(values[0]) : null;
  if (!match) throw new RequestError('NOT_AUTHENTICATED', 'Send the step\'s OIDC token as `Authorization: Bearer $BITBUCKET_STEP_OIDC_TOKEN` (run the step with `oidc: true`).');
  return match[1]!;
}

async function verifyStep(deps: Deps, workspace: string, token: string): Promise<PipelinesIdentity> {
  const trust = await deps.pipelines.getOidcTrust(workspace, keyIdOf(token));
  return verifyPipelinesToken(token, { ...trust, audience: DEPLOYMENT_GATE_AUDIENCE, workspace, now: deps.now() });
}

/** The token's `kid`, to refetch the workspace's keys if Bitbucket rotated them; the token is not trusted for anything else here. */
function keyIdOf(token: string): string | undefined {
  try {
    const { kid } = decodeProtectedHeader(token);
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

function commitOf(request: WebTriggerRequest): string {
  if (request.method?.toUpperCase() !== 'POST') throw new RequestError('INVALID_INPUT', 'The gate takes a POST with `{"commit":"$BITBUCKET_COMMIT"}`.');
  const body = typeof request.body === 'string' && request.body.length <= MAX_BODY ? parseJson(request.body) : undefined;
  const parsed = GateBody.safeParse(body);
  if (!parsed.success) throw new RequestError('INVALID_INPUT', 'The gate takes a JSON body `{"commit":"$BITBUCKET_COMMIT"}` naming the full 40-hex commit to deploy.');
  return parsed.data.commit;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * One round of I/O: the pipeline (then the ref it names, as the app), the commit's author, the
 * environment and the stored deployment. The ref's own read waits only for the pipeline's, beside the
 * others. The pipeline's commit is checked first, so a step naming another commit hears that, not what
 * Bitbucket said of the commit it named. A ref that does not point at the commit is no ref: whoever
 * starts a pipeline chooses its ref and its commit freely.
 */
async function readDeployment(deps: Deps, subject: DeploymentSubject, pipelineUuid: string): Promise<{ pipeline: PipelineFacts; facts: DeploymentFacts; state: DeploymentState }> {
  const { workspace, repository, environment, commit } = subject;
  const pipelineRead = deps.pipelines.getPipeline(workspace, repository, pipelineUuid);
  const refRead = pipelineRead.then((p) => (p.ref && p.commit === commit ? deps.pipelines.getRefTarget(workspace, repository, p.ref) : undefined));
  const [pipeline, refTarget, author, found, state] = await Promise.allSettled([
    pipelineRead,
    refRead,
    deps.pipelines.getCommitAuthor(workspace, repository, commit),
    deps.pipelines.getEnvironment(workspace, repository, environment),
    deps.deployments.loadDeployment(repository, { environment, commit }),
  ]);
  const read = <T>(result: PromiseSettledResult<T>): T => {
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  };
  const facts = read(pipeline);
  if (facts.commit !== commit) {
    throw new VerificationError('WRONG_COMMIT', `This pipeline runs on commit ${shortCommit(facts.commit)}, not ${shortCommit(commit)}; send $BITBUCKET_COMMIT from the deployment step.`);
  }
  const stored = read(state);
  if (stored.policy && !(await hasIntactHash(stored.policy))) {
    throw new RequestError('STORAGE_ERROR', 'The stored policy does not match its hash; an admin should review and save the policy again.');
  }
  const env = read(found);
  if (!env) throw new RequestError('NOT_FOUND', `The repository has no deployment environment ${environment}; it may have been deleted.`);
  const commitAuthor = read(author);
  const merge = stored.merge;
  const refHolds = facts.ref !== undefined && read(refTarget) === commit;
  return {
    pipeline: facts,
    state: stored,
    facts: {
      environment: { uuid: env.uuid, name: env.name },
      commit,
      ...(facts.ref && refHolds ? { ref: facts.ref } : {}),
      ...(facts.ref && !refHolds ? { unverifiedRef: facts.ref } : {}),
      ...(commitAuthor ? { commitAuthor } : {}),
      ...(facts.creator ? { pipelineStarter: facts.creator } : {}),
      ...(merge ? { merge: mergeFacts(merge) } : {}),
    },
  };
}

/** What the verdict and the `deployment.allowed` entry keep of the stored merge, its ledger entry with it. */
function mergeFacts(merge: MergedCommit): NonNullable<DeploymentFacts['merge']> {
  return {
    pullRequest: merge.pullRequest,
    gated: merge.gated,
    pass: merge.pass,
    ...(merge.merger ? { merger: merge.merger } : {}),
    ...(merge.author ? { author: merge.author } : {}),
    ...(merge.commitAuthors ? { commitAuthors: merge.commitAuthors } : {}),
    ...(merge.targetBranch ? { targetBranch: merge.targetBranch } : {}),
    entry: merge.entry,
  };
}

/** Opens the deployment's pending request, or reads the one a racing call opened. */
async function openRequest(deps: Deps, subject: DeploymentSubject, pipeline: PipelineFacts, facts: DeploymentFacts, merge: MergedCommit | undefined, at: string): Promise<DeploymentRequest> {
  const fields: Omit<DeploymentRequest, 'entry' | 'state' | 'allowedAt'> = {
    id: deploymentId(subject),
    environment: subject.environment,
    environmentName: (facts.environment.name ?? subject.environment).slice(0, 100),
    commit: subject.commit,
    pipeline: pipeline.uuid,
    requestedAt: at,
    ...(facts.ref ? { ref: facts.ref } : {}),
    ...(pipeline.buildNumber !== undefined ? { buildNumber: pipeline.buildNumber } : {}),
    ...(facts.commitAuthor ? { commitAuthor: facts.commitAuthor } : {}),
    ...(facts.pipelineStarter ? { pipelineStarter: facts.pipelineStarter } : {}),
    ...(merge ? { merge } : {}),
  };
  const { request } = await deps.deployments.openDeploymentRequest(subject.repository, fields, { type: 'deployment.requested', subject, request: fields });
  return request;
}

/** What the `deployment.allowed` entry keeps: the verdict's message and policy, the facts, and each counted decision with its ledger entry. */
function allowance(verdict: DeploymentVerdict, state: DeploymentState, facts: DeploymentFacts): DeploymentAllowance {
  const records = new Map(state.approvals.map((a) => [a.signer, a.record]));
  return {
    gated: verdict.gated,
    message: verdict.message,
    policy: verdict.policy ?? null,
    facts,
    counted: [...verdict.approvedBy].sort().map((signer) => {
      const record = records.get(signer)!;
      return { signer, keyId: record.keyId, decision: record.decision, seq: record.seq, entry: record.entry };
    }),
  };
}

/** The gate's verdict on the request as it recorded it (its pipeline's ref and starter), with the merge index and the decisions in force now, as the deployments page judges it. */
function requestStillPasses(request: DeploymentRequest, state: DeploymentState): boolean {
  const merge = state.merge ?? request.merge;
  const approvals = state.approvals.map(({ signer, record }) => checkedDeploymentApproval(signer, record, state.revokedKeys));
  return evaluateDeployment({ policy: state.policy, facts: { ...requestFacts(request), ...(merge ? { merge } : {}) }, approvals }).pass;
}

/** Whether signatures are all the verdict misses: the ref is one the environment deploys from, and its merge requirement is met or not asked. */
function signaturesCanFix(verdict: DeploymentVerdict): boolean {
  return verdict.refAllowed && (verdict.merge === 'met' || verdict.merge === 'not-required');
}

/** One code for the first thing the verdict says is missing, in the order a person would fix them. */
function refusalCode(verdict: DeploymentVerdict): DeploymentCode {
  if (!verdict.refAllowed) return 'REF_NOT_ALLOWED';
  if (verdict.merge === 'missing' || verdict.merge === 'unmet' || verdict.merge === 'other-branch') return 'MERGE_REQUIRED';
  if (verdict.rejectedBy.length) return 'DEPLOYMENT_REJECTED';
  return 'APPROVALS_MISSING';
}

function requestSummary(request: DeploymentRequest) {
  const { id, state, environment, environmentName, commit, pipeline, requestedAt, allowedAt } = request;
  return { id, state, environment, environmentName, commit, pipeline, requestedAt, ...(allowedAt ? { allowedAt } : {}) };
}

/**
 * The web triggers' one error -> HTTP mapping: token problems are 401; bad input and a genuine step's
 * refusals 403; anything else (storage, Bitbucket, an installation Countersign does not recognise) is
 * 503 (run the step again).
 */
function failure(error: unknown): WebTriggerResponse {
  const { code, message } = toFailure(error);
  if (code === 'NOT_AUTHENTICATED') return answer(401, { allowed: false, code, message });
  if (isCountersignError(error) && ['INVALID_INPUT', 'WRONG_COMMIT', 'NOT_A_DEPLOYMENT_STEP', 'NOT_FOUND'].includes(code)) {
    return answer(403, { allowed: false, code, message, missing: [message], request: null });
  }
  return answer(503, { allowed: false, code, message: `Countersign could not decide, so the deployment is blocked: ${message}` });
}

function answer(statusCode: number, body: unknown): WebTriggerResponse {
  return { statusCode, headers: { 'Content-Type': ['application/json'] }, body: JSON.stringify(body) };
}
