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
  /**
   * A merged pull request's merge commit as Bitbucket names it (`merge_commit.hash`: on a pull request
   * abbreviated, usually to 12 hex digits); absent while it is not merged or when Bitbucket names none.
   * `BitbucketPort.resolveCommit` gives the full hash.
   */
  mergeCommit?: string;
  /** Who merged or declined it (`closed_by`), where Bitbucket names an account. */
  closedBy?: string;
}
