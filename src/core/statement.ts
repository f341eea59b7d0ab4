import { canonicalBytes } from './crypto';
import { subjectName, type PullRequestSubject } from './subject';

/**
 * Statement v2: an in-toto Statement v1 (github.com/in-toto/attestation, spec v1) whose subject is
 * the head commit, signed as a DSSE envelope. Its predicate says what the signer decided about which
 * pull request, under which policy, with which key, when, and for which single-use challenge. This
 * module builds them (the PR card uses it, so it carries no schema library); `statementSchema.ts`
 * reads them.
 */
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PULL_REQUEST_APPROVAL = 'https://countersign.dev/pull-request-approval/v1';

export type Decision = 'approve' | 'reject';

export interface DecisionStatement {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: [{ name: string; digest: { gitCommit: string } }];
  predicateType: typeof PULL_REQUEST_APPROVAL;
  /** The decision's facts, and the subject's other than its commit (that is the digest). */
  predicate: Omit<DecisionFacts, 'subject'> & Pick<PullRequestSubject, 'workspace' | 'repository' | 'pullRequest' | 'targetBranch'>;
}

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
