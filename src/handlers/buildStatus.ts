import { rulesFor, type Policy, type PullRequestFacts, type Verdict } from '../core';
import type { BuildState, Deps } from '../ports';

/**
 * Mirrors the verdict as the `countersign` build status on the head commit, when a matching rule
 * asks for it (for "passing builds" workspaces). Best effort: a failed post is logged and never
 * undoes or blocks what was decided.
 */
export async function publishBuildStatus(deps: Deps, pr: PullRequestFacts, policy: Policy | undefined, verdict: Verdict): Promise<void> {
  if (!rulesFor(policy, pr.targetBranch).some((rule) => rule.commitStatus)) return;
  const blocked = verdict.rules.some((rule) => rule.rejectedBy.length > 0);
  const state: BuildState = verdict.pass ? 'SUCCESSFUL' : blocked ? 'FAILED' : 'INPROGRESS';
  const url = `https://bitbucket.org/${encodeURIComponent(pr.workspace)}/${encodeURIComponent(pr.repository)}/pull-requests/${pr.id}`;
  try {
    await deps.bitbucket.postBuildStatus(pr.workspace, pr.repository, pr.headCommit, { state, description: verdict.message, url });
  } catch (error) {
    console.warn('Countersign: could not post the build status', error);
  }
}
