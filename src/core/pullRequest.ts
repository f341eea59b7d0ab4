/** What Countersign needs to know about a pull request, as Bitbucket says it is now. */
export interface PullRequestFacts {
  workspace: string;
  repository: string;
  id: number;
  title: string;
  state: 'OPEN' | 'MERGED' | 'DECLINED' | 'SUPERSEDED';
  author: string;
  sourceBranch: string;
  targetBranch: string;
  /** Full 40-hex hash of the source branch head. */
  headCommit: string;
  /** Account IDs of the authors of the pull request's commits that Bitbucket could map to accounts. */
  commitAuthors: string[];
  /** Display names Bitbucket gave for accounts it mentioned (author, participants, commit authors). */
  names: Record<string, string>;
}
