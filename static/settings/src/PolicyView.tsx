import type { SettingsState } from '../../../src/handlers/settings';
import { MERGE_STRATEGY_LABELS } from './mergeStrategies';
import { useNames } from './services';

/** The policy for people who may read it but not change it, with the reason they cannot. */
export function PolicyView({ settings }: { settings: SettingsState }) {
  const rules = settings.policy?.rules ?? [];
  const { label } = useNames(rules.flatMap((r) => r.requirements.flatMap((q) => q.members)));
  return (
    <section className="stack" aria-labelledby="policy-title">
      <h2 id="policy-title">Policy</h2>
      <p className="banner info" data-testid="read-only">
        Only repository admins can change this policy. You can read it here; ask an admin of this repository for changes.
      </p>
      {rules.map((rule) => (
        <div key={rule.branchPattern} className="card stack">
          <h3>
            Branch <code>{rule.branchPattern}</code>
          </h3>
          <ul>
            {rule.requirements.map((r) => (
              <li key={r.group}>
                {r.count} of {r.group}: {r.members.map(label).join(', ')}
              </li>
            ))}
          </ul>
          <p className="small subtle">
            {rule.excludeAuthor ? "The author's signature does not count. " : ''}
            {rule.excludeCommitAuthors ? 'Commit authors do not count. ' : ''}
            {rule.rejectionsBlock ? 'Signed rejections block. ' : ''}
            {rule.autoMerge ? `Merges automatically (${MERGE_STRATEGY_LABELS[rule.mergeStrategy ?? 'merge_commit'].toLowerCase()}). ` : ''}
            {rule.commitStatus ? 'Reports a build status.' : ''}
          </p>
        </div>
      ))}
    </section>
  );
}
