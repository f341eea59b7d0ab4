import * as z from 'zod/mini';
import { EnvelopeSchema } from './dsseVerify';
import { IN_TOTO_PAYLOAD_TYPE, payloadBytes, type Envelope } from './dsse';
import { AccountId, BitbucketUuid, BranchName, ChallengeValue, FullCommitHash, KeyId, PullRequestId, UtcTimestamp, type Same } from './formats';
import { factsOf, IN_TOTO_STATEMENT_TYPE, PULL_REQUEST_APPROVAL, subjectOf, type DecisionFacts, type DecisionStatement as StatementShape } from './statement';
import { subjectName } from './subject';
import { DEPLOYMENT_APPROVAL, deploymentFactsOf, deploymentSubjectOf, type DeploymentDecisionFacts, type DeploymentStatement as DeploymentShape } from './deploymentStatement';

/** What the server accepts as a decision statement (`statement.ts` builds them; this reads them). */
export const DecisionSchema = z.enum(['approve', 'reject']);

const PolicyHash = z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/, 'must be a policy hash'));

/** An in-toto subject list of exactly one commit. */
const StatementSubject = z.tuple([z.strictObject({ name: z.string().check(z.maxLength(300)), digest: z.strictObject({ gitCommit: FullCommitHash }) })]);

export const PullRequestApproval = z.strictObject({
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  pullRequest: PullRequestId,
  targetBranch: BranchName,
  decision: DecisionSchema,
  policy: PolicyHash,
  signer: AccountId,
  keyId: KeyId,
  issuedAt: UtcTimestamp,
  challenge: ChallengeValue,
});

/** Exactly what an approver signs. Unknown fields are refused, not ignored. */
export const DecisionStatementSchema = z
  .strictObject({
    _type: z.literal(IN_TOTO_STATEMENT_TYPE),
    subject: StatementSubject,
    predicateType: z.literal(PULL_REQUEST_APPROVAL),
    predicate: PullRequestApproval,
  })
  .check(z.refine((s) => s.subject[0].name === subjectName(subjectOf(s)), { message: 'the subject name does not match the predicate', path: ['subject'] }));

/** Compiles only while the schema reads exactly the shape `statement.ts` builds. */
export const STATEMENT_SCHEMA_MATCHES: Same<z.infer<typeof DecisionStatementSchema>, StatementShape> = true;

export const DeploymentApproval = z.strictObject({
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  environment: BitbucketUuid,
  decision: DecisionSchema,
  policy: PolicyHash,
  signer: AccountId,
  keyId: KeyId,
  issuedAt: UtcTimestamp,
  challenge: ChallengeValue,
});

/** Exactly what an approver signs for a deployment. Unknown fields are refused, not ignored. */
export const DeploymentStatementSchema = z
  .strictObject({
    _type: z.literal(IN_TOTO_STATEMENT_TYPE),
    subject: StatementSubject,
    predicateType: z.literal(DEPLOYMENT_APPROVAL),
    predicate: DeploymentApproval,
  })
  .check(z.refine((s) => s.subject[0].name === subjectName(deploymentSubjectOf(s)), { message: 'the subject name does not match the predicate', path: ['subject'] }));

export const DEPLOYMENT_STATEMENT_SCHEMA_MATCHES: Same<z.infer<typeof DeploymentStatementSchema>, DeploymentShape> = true;

/**
 * Reads the statement an envelope carries from its exact payload bytes, parsed once. Undefined when
 * the envelope is not an in-toto envelope carrying one valid Countersign decision statement.
 */
export function readStatement(envelope: Envelope, payload = payloadBytes(envelope)): { statement: StatementShape; payload: Uint8Array<ArrayBuffer> } | undefined {
  const json = payloadJson(envelope, payload);
  if (json === undefined || !payload) return undefined;
  const parsed = DecisionStatementSchema.safeParse(json);
  return parsed.success ? { statement: parsed.data, payload } : undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function payloadJson(envelope: Envelope, payload: Uint8Array<ArrayBuffer> | undefined): unknown {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE || !payload) return undefined;
  try {
    return JSON.parse(utf8.decode(payload));
  } catch {
    return undefined;
  }
}

/** The deployment decision an envelope carries, from its exact payload bytes; undefined when it carries none. */
export function readDeploymentFacts(envelope: Envelope, payload = payloadBytes(envelope)): DeploymentDecisionFacts | undefined {
  const json = payloadJson(envelope, payload);
  if (json === undefined) return undefined;
  const parsed = DeploymentStatementSchema.safeParse(json);
  return parsed.success ? deploymentFactsOf(parsed.data) : undefined;
}

/** The decision facts an envelope carries; undefined as for `readStatement`. */
export function readFacts(envelope: Envelope, payload?: Uint8Array<ArrayBuffer>): DecisionFacts | undefined {
  const read = readStatement(envelope, payload ?? payloadBytes(envelope));
  return read && factsOf(read.statement);
}

/** What the PR card sends: one envelope, of the size a decision statement has (about 1 kB). */
export const SubmittedDecision = z.strictObject({
  envelope: z.extend(EnvelopeSchema, { payload: z.string().check(z.maxLength(8 * 1024, 'A decision statement is at most 8 kB')) }),
});
export type SubmittedDecision = z.infer<typeof SubmittedDecision>;
