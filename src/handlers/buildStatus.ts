import { rulesFor, type Policy, type PullRequestFacts, type Verdict } from '../core';
import type { BuildState, Deps } from '../ports';
import { judge } from './judge';

const REFRESH_CONCURRENCY = 4;

/**
 * Mirrors the verdict as the `countersign` build status on the head commit, when a matching rule
 * asks for it (for "passing builds" workspaces). Best effort: a failed post is logged and never
 * undoes or blocks what was decided.
 */
export async function publishBuildStatus(
  deps: Deps,
  pr: PullRequestFacts,
  policy: Policy | undefined,
  verdict: Verdict,
  options: { withdraw?: boolean } = {},
): Promise<void> {
  const wanted = rulesFor(policy, pr.targetBranch).some((rule) => rule.commitStatus);
  if (!wanted && !options.withdraw) return;
  const blocked = verdict.rules.some((rule) => rule.rejectedBy.length > 0);
  const state: BuildState = !wanted ? 'STOPPED' : verdict.pass ? 'SUCCESSFUL' : blocked ? 'FAILED' : 'INPROGRESS';
  const description = wanted ? verdict.message : 'Countersign no longer reports a status for this branch; its merge check still applies.';
  const url = `https://bitbucket.org/${encodeURIComponent(pr.workspace)}/${encodeURIComponent(pr.repository)}/pull-requests/${pr.id}`;
  try {
    await deps.bitbucket.postBuildStatus(pr.workspace, pr.repository, pr.headCommit, { state, description, url });
  } catch (error) {
    console.warn('Countersign: could not post the build status', error);
  }
}

/**
 * After a change that can move verdicts without a push (a policy save, a revocation), judges every open
 * pull request of the repository again and republishes its status, so a "passing builds" workspace never
 * merges on a stale SUCCESSFUL. Where a rule wanted a status before but none does now, the status is
 * withdrawn (STOPPED). Best effort, like every status post.
 */
export async function refreshBuildStatuses(deps: Deps, workspace: string, repository: string, previous?: Policy): Promise<void> {
  try {
    const ids = await deps.bitbucket.listOpenPullRequests(workspace, repository);
    for (let i = 0; i < ids.length; i += REFRESH_CONCURRENCY) {
      await Promise.all(
        ids.slice(i, i + REFRESH_CONCURRENCY).map(async (id) => {
          const [pr, gate] = await Promise.all([deps.bitbucket.getPullRequest(workspace, repository, id, 'app'), deps.gate.loadGate(repository, id)]);
          const { verdict } = await judge(pr, gate);
          const wanted = (policy: Policy | undefined) => rulesFor(policy, pr.targetBranch).some((rule) => rule.commitStatus);
          await publishBuildStatus(deps, pr, gate.policy, verdict, { withdraw: wanted(previous) && !wanted(gate.policy) });
        }),
      );
    }
  } catch (error) {
    console.warn('Countersign: could not refresh build statuses', error);
  }
}
