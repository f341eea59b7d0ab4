import type { CheckedApproval } from './assessment';
import { rulesFor, type MergeStrategy, type Policy } from './policy';
import type { PullRequestFacts } from './pullRequest';
import type { Verdict } from './quorum';
import type { PullRequestSubject } from './subject';

/**
 * The pure half of re-evaluation: given what was just read (the pull request, the policy, the verdict
 * and what was posted before), what status to post, whether to auto-merge, and what a merge record says.
 * No I/O; `src/handlers/reevaluate.ts` does what these decide.
 */

export type StatusState = 'INPROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'STOPPED';

/** Bitbucket keeps at most this many characters of a build status description. */
export const STATUS_DESCRIPTION_LIMIT = 255;

export interface StatusToPost {
  state: StatusState;
  description: string;
  /** The source branch: the ref that pointed at the commit when the status was made. */
  refname: string;
  url: string;
}

/** What Countersign last posted for a pull request, kept so a duplicate event posts nothing and a withdrawn rule can be undone. */
export interface PostedStatus {
  commit: string;
  state: StatusState;
  description: string;
}

export function pullRequestUrl(pr: Pick<PullRequestFacts, 'workspace' | 'repository' | 'id'>): string {
  return `https://bitbucket.org/${encodeURIComponent(pr.workspace)}/${encodeURIComponent(pr.repository)}/pull-requests/${pr.id}`;
}

/** A description within Bitbucket's limit, cut on a word with an ellipsis rather than mid-word. */
export function fitDescription(text: string, limit = STATUS_DESCRIPTION_LIMIT): string {
  if (text.length <= limit) return text;
  const cut = text.slice(0, limit - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > limit / 2 ? cut.slice(0, space) : cut}…`;
}

export function wantsStatus(policy: Policy | undefined, targetBranch: string): boolean {
  return rulesFor(policy, targetBranch).some((rule) => rule.commitStatus);
}

/**
 * The `countersign` status for the head commit: INPROGRESS while the quorum is unmet, SUCCESSFUL when
 * met, FAILED on a blocking rejection; STOPPED where no rule asks for a status now but Countersign had
 * posted one on this commit. Undefined when nothing should be posted: no rule asks and none was posted,
 * or the same status is already on this commit (a duplicate event).
 */
export function statusFor(pr: PullRequestFacts, policy: Policy | undefined, verdict: Verdict, last: PostedStatus | undefined): StatusToPost | undefined {
  const base = { refname: pr.sourceBranch, url: pullRequestUrl(pr) };
  const lastHere = last?.commit === pr.headCommit ? last : undefined;
  let status: StatusToPost;
  if (!wantsStatus(policy, pr.targetBranch)) {
    if (!lastHere || lastHere.state === 'STOPPED') return undefined;
    status = { ...base, state: 'STOPPED', description: 'Countersign no longer reports a status for this branch; its merge check still applies.' };
  } else {
    const blocked = verdict.rules.some((rule) => rule.rejectedBy.length > 0);
    const state: StatusState = verdict.pass ? 'SUCCESSFUL' : blocked ? 'FAILED' : 'INPROGRESS';
    status = { ...base, state, description: fitDescription(verdict.message) };
  }
  if (lastHere && lastHere.state === status.state && lastHere.description === status.description) return undefined;
  return status;
}

/** The strategy of the first rule covering the target branch that merges automatically; undefined when none does. */
export function autoMergeStrategy(policy: Policy | undefined, targetBranch: string): MergeStrategy | undefined {
  const rule = rulesFor(policy, targetBranch).find((r) => r.autoMerge);
  return rule ? (rule.mergeStrategy ?? 'merge_commit') : undefined;
}

/** The one auto-merge of a head commit: claimed before Bitbucket is asked, then merged or failed. */
export interface AutoMergeRecord {
  commit: string;
  strategy: MergeStrategy;
  state: 'attempting' | 'merged' | 'failed';
  at: string;
  reason?: string;
}

/**
 * Whether to auto-merge now: the pull request is open, gated and passes, a rule covering it merges
 * automatically, and this head commit has not been tried before (merged or failed: never in a loop).
 */
/**
 * How long a claimed merge may stay unfinished (Bitbucket still merging in the background when the
 * function's budget ran out, or the function stopped) before the claim is taken as lost and the merge
 * may be tried again. Should Bitbucket have merged meanwhile, the pull request is no longer open.
 */
export const STALE_AUTO_MERGE_MS = 10 * 60_000;

/** Whether a claim on this commit still stands: finished, or attempted recently enough to be in progress. */
export function claimStands(claimed: AutoMergeRecord, now: Date): boolean {
  return claimed.state !== 'attempting' || now.getTime() - Date.parse(claimed.at) < STALE_AUTO_MERGE_MS;
}

export function autoMergeDue(pr: PullRequestFacts, policy: Policy | undefined, verdict: Verdict, claimed: AutoMergeRecord | undefined, now: Date): MergeStrategy | undefined {
  if (pr.state !== 'OPEN' || !verdict.gated || !verdict.pass || verdict.headCommit !== pr.headCommit) return undefined;
  if (claimed?.commit === pr.headCommit && claimStands(claimed, now)) return undefined;
  return autoMergeStrategy(policy, pr.targetBranch);
}

/** What the ledger keeps of a merge: the verdict at merge, the approvals that counted and the facts they were judged on. */
export interface MergeRecord {
  subject: PullRequestSubject;
  /** Who merged: Countersign itself (auto-merge), or someone in Bitbucket. */
  mergedBy: 'countersign' | 'bitbucket';
  /** True when the gate said no at the moment of the merge. */
  bypassed: boolean;
  verdict: { gated: boolean; pass: boolean; message: string; policy: { version: number; hash: string } | null };
  /** The pull request as it was judged. */
  facts: { author: string; sourceBranch: string; targetBranch: string; headCommit: string; commitAuthors: string[]; state: string };
  /** Every decision that counted toward a requirement, as stored (its envelope is ledger entry `entry`). */
  counted: { signer: string; keyId: string; decision: 'approve' | 'reject'; commit: string; policy: string; seq: number; entry: number | null }[];
  /**
   * The commit the merge wrote onto the target branch (full 40-hex), as Bitbucket named it: the merge
   * commit, the squashed commit, or the head itself for a fast-forward. Absent from records written
   * before it was kept, and when Bitbucket named none.
   */
  mergeCommit?: string;
  /** The account Bitbucket says merged it (`closed_by`), when a person did. */
  merger?: string;
}

export function mergeRecord(
  pr: PullRequestFacts,
  policy: Policy | undefined,
  verdict: Verdict,
  approvals: (CheckedApproval & { entry?: number })[],
  mergedBy: MergeRecord['mergedBy'],
  mergeCommit?: string,
): MergeRecord {
  const countedIds = new Set(verdict.rules.flatMap((rule) => rule.requirements.flatMap((r) => r.counted)));
  const counted = approvals
    .filter((a) => countedIds.has(a.signer))
    .sort((a, b) => (a.signer < b.signer ? -1 : a.signer > b.signer ? 1 : 0))
    .map((a) => ({ signer: a.signer, keyId: a.keyId, decision: a.decision, commit: a.commit, policy: a.policy, seq: a.seq, entry: a.entry ?? null }));
  return {
    subject: { kind: 'pull-request', workspace: pr.workspace, repository: pr.repository, pullRequest: pr.id, commit: pr.headCommit, targetBranch: pr.targetBranch },
    mergedBy,
    bypassed: verdict.gated && !verdict.pass,
    verdict: { gated: verdict.gated, pass: verdict.pass, message: verdict.message, policy: policy ? { version: policy.version, hash: policy.hash } : null },
    facts: { author: pr.author, sourceBranch: pr.sourceBranch, targetBranch: pr.targetBranch, headCommit: pr.headCommit, commitAuthors: [...pr.commitAuthors].sort(), state: pr.state },
    counted,
    ...(mergeCommit ? { mergeCommit } : {}),
    ...(mergedBy === 'bitbucket' && pr.closedBy ? { merger: pr.closedBy } : {}),
  };
}
