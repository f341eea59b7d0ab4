import * as z from 'zod/mini';
import { canonicalBytes } from './crypto';
import { Envelope, IN_TOTO_PAYLOAD_TYPE, payloadBytes } from './dsse';
import { AccountId, BitbucketUuid, BranchName, ChallengeValue, FullCommitHash, KeyId, PullRequestId, UtcTimestamp } from './formats';
import { subjectName, type PullRequestSubject } from './subject';

/**
 * Statement v2: an in-toto Statement v1 (github.com/in-toto/attestation, spec v1) whose subject is
 * the head commit, signed as a DSSE envelope. Its predicate says what the signer decided about which
 * pull request, under which policy, with which key, when, and for which single-use challenge.
 */
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PULL_REQUEST_APPROVAL = 'https://countersign.dev/pull-request-approval/v1';

export const Decision = z.enum(['approve', 'reject']);
export type Decision = z.infer<typeof Decision>;

const PolicyHash = z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/, 'must be a policy hash'));

export const PullRequestApproval = z.strictObject({
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  pullRequest: PullRequestId,
  targetBranch: BranchName,
  decision: Decision,
  policy: PolicyHash,
  signer: AccountId,
  keyId: KeyId,
  issuedAt: UtcTimestamp,
  challenge: ChallengeValue,
});

/** Exactly what an approver signs. Unknown fields are refused, not ignored. */
export const DecisionStatement = z
  .strictObject({
    _type: z.literal(IN_TOTO_STATEMENT_TYPE),
    subject: z.tuple([z.strictObject({ name: z.string().check(z.maxLength(300)), digest: z.strictObject({ gitCommit: FullCommitHash }) })]),
    predicateType: z.literal(PULL_REQUEST_APPROVAL),
    predicate: PullRequestApproval,
  })
  .check(z.refine((s) => s.subject[0].name === subjectName(subjectOf(s)), { message: 'the subject name does not match the predicate', path: ['subject'] }));
export type DecisionStatement = z.infer<typeof DecisionStatement>;

/** A decision's facts, whatever form carried them. */
export interface DecisionFacts {
  subject: PullRequestSubject;
  decision: Decision;
  policy: string;
  signer: string;
  keyId: string;
  issuedAt: string;
  challenge: string;
}

export function subjectOf(statement: Pick<DecisionStatement, 'subject' | 'predicate'>): PullRequestSubject {
  const { workspace, repository, pullRequest, targetBranch } = statement.predicate;
  return { kind: 'pull-request', workspace, repository, pullRequest, commit: statement.subject[0].digest.gitCommit, targetBranch };
}

export function factsOf(statement: DecisionStatement): DecisionFacts {
  const { decision, policy, signer, keyId, issuedAt, challenge } = statement.predicate;
  return { subject: subjectOf(statement), decision, policy, signer, keyId, issuedAt, challenge };
}

export function buildStatement(facts: DecisionFacts): DecisionStatement {
  const { subject, ...rest } = facts;
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [{ name: subjectName(subject), digest: { gitCommit: subject.commit } }],
    predicateType: PULL_REQUEST_APPROVAL,
    predicate: {
      workspace: subject.workspace,
      repository: subject.repository,
      pullRequest: subject.pullRequest,
      targetBranch: subject.targetBranch,
      ...rest,
    },
  };
}

/** The bytes a signer signs: serialised once, here (RFC 8785, so every client writes the same bytes). */
export function statementPayload(statement: DecisionStatement): Uint8Array<ArrayBuffer> {
  return canonicalBytes(statement);
}

/**
 * Reads the statement an envelope carries from its exact payload bytes, parsed once. Undefined when
 * the envelope is not an in-toto envelope carrying one valid Countersign decision statement.
 */
export function readStatement(envelope: Envelope): { statement: DecisionStatement; payload: Uint8Array<ArrayBuffer> } | undefined {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  const payload = payloadBytes(envelope);
  if (!payload) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return undefined;
  }
  const parsed = DecisionStatement.safeParse(json);
  return parsed.success ? { statement: parsed.data, payload } : undefined;
}

/** What the PR card sends: one envelope, of the size a decision statement has (about 1 kB). */
export const SubmittedDecision = z.strictObject({
  envelope: z.extend(Envelope, { payload: z.string().check(z.maxLength(8 * 1024, 'A decision statement is at most 8 kB')) }),
});
export type SubmittedDecision = z.infer<typeof SubmittedDecision>;
