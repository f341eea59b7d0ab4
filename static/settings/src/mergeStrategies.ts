import type { MergeStrategy } from '../../../src/core/policy';

/** Bitbucket's merge strategies, as the admin reads them; every strategy the policy allows must be here. */
export const MERGE_STRATEGY_LABELS: Record<MergeStrategy, string> = {
  merge_commit: 'Merge commit',
  squash: 'Squash',
  fast_forward: 'Fast-forward',
};
