import { canonicalBytes } from './jcs';
import { subjectName, type PullRequestSubject } from './subject';

/**
 * Building and serialising a decision statement, apart from its schema (statement.ts), so the PR card
 * signs with exactly the server's code without bundling zod. The server still reads what it receives
 * with the schema.
 */
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PULL_REQUEST_APPROVAL = 'https://countersign.dev/pull-request-approval/v1';

export type Decision = 'approve' | 'reject';

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

/** The statement's shape; `DecisionStatement` in statement.ts is its schema. */
export interface DecisionStatementShape {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: [{ name: string; digest: { gitCommit: string } }];
  predicateType: typeof PULL_REQUEST_APPROVAL;
  predicate: {
    workspace: string;
    repository: string;
    pullRequest: number;
    targetBranch: string;
    decision: Decision;
    policy: string;
    signer: string;
    keyId: string;
    issuedAt: string;
    challenge: string;
  };
}

export function buildStatement(facts: DecisionFacts): DecisionStatementShape {
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
export function statementPayload(statement: DecisionStatementShape): Uint8Array<ArrayBuffer> {
  return canonicalBytes(statement);
}
