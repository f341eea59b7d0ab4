/**
 * What a decision is about: a pull-request merge, or a deployment of a commit to an environment.
 * Statements, challenges, assessment and storage keys work on subjects.
 */
export interface PullRequestSubject {
  kind: 'pull-request';
  workspace: string;
  repository: string;
  pullRequest: number;
  /** The full 40-hex head commit the decision is about. */
  commit: string;
  targetBranch: string;
}

/** A commit reaching one of the repository's deployment environments (Bitbucket's, by UUID). */
export interface DeploymentSubject {
  kind: 'deployment';
  workspace: string;
  repository: string;
  environment: string;
  /** The full 40-hex commit to be deployed. */
  commit: string;
}

export type Subject = PullRequestSubject | DeploymentSubject;

/** The in-toto subject name: stable for the pull request or environment, whatever the commit (that is the digest). */
export function subjectName(subject: Subject): string {
  const repository = `bitbucket:${bareUuid(subject.workspace)}/${bareUuid(subject.repository)}`;
  return subject.kind === 'deployment' ? `${repository}/environments/${bareUuid(subject.environment)}` : `${repository}/pull-requests/${subject.pullRequest}`;
}

/** A deployment's id within its repository: one pending request, and one set of approvals, per environment and commit. */
export function deploymentId(subject: Pick<DeploymentSubject, 'environment' | 'commit'>): string {
  return `${bareUuid(subject.environment)}:${subject.commit}`;
}

/** Strips the braces from a Bitbucket UUID, for places (such as KVS keys) where braces are not allowed. */
export function bareUuid(uuid: string): string {
  return uuid.replace(/^\{|\}$/g, '');
}

export function shortCommit(hash: string): string {
  return hash.slice(0, 7);
}
