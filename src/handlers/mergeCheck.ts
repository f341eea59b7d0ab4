import * as z from 'zod/mini';
import { BitbucketUuid, isCountersignError } from '../core';
import { PositiveIdFromText } from './requests';
import type { Deps } from '../ports';
import { publishBuildStatus } from './buildStatus';
import { judge } from './judge';

const MergeCheckEvent = z.object({
  workspace: z.looseObject({ uuid: BitbucketUuid }),
  repository: z.looseObject({ uuid: BitbucketUuid }),
  pullrequest: z.looseObject({ id: PositiveIdFromText }),
  trigger: z.looseObject({ type: z.string() }),
});

export interface MergeCheckResult {
  success: boolean;
  message: string;
}

/**
 * Bitbucket asks "may this pull request merge?". One round of I/O (the pull request and the stored
 * gate, read at once), storage seals checked, every decision judged, quorum evaluated. Any error fails closed.
 */
export async function checkMerge(deps: Deps, event: unknown): Promise<MergeCheckResult> {
  try {
    const parsed = MergeCheckEvent.safeParse(event);
    if (!parsed.success) return { success: false, message: 'Countersign: the merge check event was not understood, so merging is blocked.' };
    const { workspace, repository, pullrequest, trigger } = parsed.data;
    const [pr, gate] = await Promise.all([
      deps.bitbucket.getPullRequest(workspace.uuid, repository.uuid, pullrequest.id, 'app'),
      deps.gate.loadGate(repository.uuid, pullrequest.id),
    ]);
    const { verdict } = await judge(pr, gate);
    if (trigger.type === 'on-code-pushed') await publishBuildStatus(deps, pr, gate.policy, verdict);
    return { success: verdict.pass, message: verdict.message };
  } catch (error) {
    const reason = isCountersignError(error) ? error.message : 'an unexpected error occurred.';
    if (!isCountersignError(error)) console.error('Countersign merge check failed', error);
    return { success: false, message: `Countersign could not verify approvals, so merging is blocked: ${reason}` };
  }
}
