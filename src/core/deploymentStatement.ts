import { canonicalBytes } from './crypto';
import { IN_TOTO_STATEMENT_TYPE, type Decision } from './statement';
import { subjectName, type DeploymentSubject } from './subject';

/**
 * A deployment decision: an in-toto Statement v1 whose subject is the commit to deploy, with a
 * predicate of ours naming the repository and environment it may (or may not) reach, under which
 * policy, by whom, with which key, when and for which single-use challenge. Signed as a DSSE envelope
 * with the same device keys as merge approvals; built here (the deployments page uses it, so it
 * carries no schema library), read by `statementSchema.ts`.
 */
export const DEPLOYMENT_APPROVAL = 'https://countersign.dev/deployment-approval/v1';

export interface DeploymentDecisionFacts {
  subject: DeploymentSubject;
  decision: Decision;
  policy: string;
  signer: string;
  keyId: string;
  issuedAt: string;
  challenge: string;
}

export interface DeploymentStatement {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: [{ name: string; digest: { gitCommit: string } }];
  predicateType: typeof DEPLOYMENT_APPROVAL;
  predicate: Omit<DeploymentDecisionFacts, 'subject'> & Pick<DeploymentSubject, 'workspace' | 'repository' | 'environment'>;
}

export function deploymentSubjectOf(statement: Pick<DeploymentStatement, 'subject' | 'predicate'>): DeploymentSubject {
  const { workspace, repository, environment } = statement.predicate;
  return { kind: 'deployment', workspace, repository, environment, commit: statement.subject[0].digest.gitCommit };
}

export function deploymentFactsOf(statement: DeploymentStatement): DeploymentDecisionFacts {
  const { decision, policy, signer, keyId, issuedAt, challenge } = statement.predicate;
  return { subject: deploymentSubjectOf(statement), decision, policy, signer, keyId, issuedAt, challenge };
}

export function buildDeploymentStatement(facts: DeploymentDecisionFacts): DeploymentStatement {
  const { subject, ...rest } = facts;
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [{ name: subjectName(subject), digest: { gitCommit: subject.commit } }],
    predicateType: DEPLOYMENT_APPROVAL,
    predicate: { workspace: subject.workspace, repository: subject.repository, environment: subject.environment, ...rest },
  };
}

/** The bytes a signer signs (RFC 8785), as for merge approvals. */
export function deploymentStatementPayload(statement: DeploymentStatement): Uint8Array<ArrayBuffer> {
  return canonicalBytes(statement);
}
