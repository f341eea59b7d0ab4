import type { SettingsState } from '../../../src/handlers/settings';
import { ENVIRONMENT_FLAGS, flagOn, NotFound } from './EnvironmentEditor';
import { MERGE_STRATEGY_LABELS } from './mergeStrategies';
import { useNames } from './services';

/** The policy for people who may read it but not change it, with the reason they cannot. */
export function PolicyView({ settings }: { settings: SettingsState }) {
  const rules = settings.policy?.rules ?? [];
  const environments = settings.policy?.environments ?? [];
  const listed = settings.deploymentEnvironments;
  const { label } = useNames([...rules, ...environments].flatMap((r) => r.requirements.flatMap((q) => q.members)));
  const groups = (requirements: typeof rules[number]['requirements']) => (
    <ul>
      {requirements.map((r) => (
        <li key={r.group}>
          {r.count} of {r.group}: {r.members.map(label).join(', ')}
        </li>
      ))}
    </ul>
  );
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
          {groups(rule.requirements)}
          <p className="small subtle">
            {rule.excludeAuthor ? "The author's signature does not count. " : ''}
            {rule.excludeCommitAuthors ? 'Commit authors do not count. ' : ''}
            {rule.rejectionsBlock ? 'Signed rejections block. ' : ''}
            {rule.autoMerge ? `Merges automatically (${MERGE_STRATEGY_LABELS[rule.mergeStrategy ?? 'merge_commit'].toLowerCase()}). ` : ''}
            {rule.commitStatus ? 'Reports a build status.' : ''}
          </p>
        </div>
      ))}
      {environments.length > 0 && <h2>Deployment environments</h2>}
      {environments.map((env) => (
        <div key={env.environment} className="card stack" aria-label={`Environment ${env.name}`} role="group">
          <h3>
            {env.name}{' '}
            {listed.ok && listed.notFound.includes(env.environment) && <NotFound />}
          </h3>
          {groups(env.requirements)}
          <p className="small">
            {env.branches.length + env.tags.length === 0 ? 'From any branch or tag.' : `From ${[...env.branches.map((b) => `branch ${b}`), ...env.tags.map((t) => `tag ${t}`)].join(', ')}.`}
          </p>
          <p className="small subtle">{ENVIRONMENT_FLAGS.filter(([flag]) => flagOn(env, flag)).map(([, label]) => `${label}.`).join(' ')}</p>
        </div>
      ))}
    </section>
  );
}
