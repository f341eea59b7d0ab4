import { bareUuid } from './formats';

/**
 * What a decision is about. Today a pull-request merge; a deployment of a commit to an environment
 * is the next kind, added beside this one. Statements, challenges, assessment and storage keys work
 * on subjects.
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

export type Subject = PullRequestSubject;

/** The in-toto subject name: stable for the pull request, whatever its head commit (that is the digest). */
export function subjectName(subject: Subject): string {
  return `bitbucket:${bareUuid(subject.workspace)}/${bareUuid(subject.repository)}/pull-requests/${subject.pullRequest}`;
}
