import * as z from 'zod/mini';
import { BitbucketUuid, evaluateQuorum } from '../core';
import { PositiveIdFromText } from './requests';
import type { Deps } from '../ports';
import { prepareJudgement } from './judge';
import { blockedMerge } from './result';

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
 * Bitbucket asks "may this pull request merge?". One round of I/O: the pull request and the stored
 * gate are read at once, and storage seals and each decision's standing are checked as soon as storage
 * answers, while Bitbucket is still pending; then the quorum. A pure read: writes and posts nothing
 * (statuses come from re-evaluation, driven by product events). Any error fails closed.
 */
export async function checkMerge(deps: Deps, event: unknown): Promise<MergeCheckResult> {
  try {
    const parsed = MergeCheckEvent.safeParse(event);
    if (!parsed.success) return { success: false, message: 'Countersign: the merge check event was not understood, so merging is blocked.' };
    const { workspace, repository, pullrequest } = parsed.data;
    const [pr, { gate, approvals }] = await Promise.all([
      deps.bitbucket.getPullRequest(workspace.uuid, repository.uuid, pullrequest.id, 'app'),
      deps.gate.loadGate(repository.uuid, pullrequest.id).then(prepareJudgement),
    ]);
    const verdict = evaluateQuorum({ policy: gate.policy, pr, approvals });
    return { success: verdict.pass, message: verdict.message };
  } catch (error) {
    return blockedMerge(error);
  }
}
