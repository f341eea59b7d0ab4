import type { EnvironmentPolicyInput } from '../../../src/core/environmentPolicy';
import type { FieldErrors } from '../../../src/core/policy';
import { Field } from './Field';
import { RequirementsEditor } from './RequirementsEditor';

type Flag = 'requireMergedPullRequest' | 'excludeCommitAuthor' | 'excludeMerger' | 'excludePipelineStarter' | 'rejectionsBlock';

/** The switches, each named by what it does; all but the first are on unless turned off (the schema's defaults). */
export const ENVIRONMENT_FLAGS: [Flag, string][] = [
  ['requireMergedPullRequest', 'The commit must have reached its branch through a pull request that met its quorum'],
  ['excludeCommitAuthor', "The commit author's signature does not count"],
  ['excludeMerger', "The signature of whoever merged the commit's pull request does not count"],
  ['excludePipelineStarter', 'The signature of whoever started the deployment does not count'],
  ['rejectionsBlock', 'A signed rejection from an eligible approver blocks the deployment'],
];

export const flagOn = (policy: EnvironmentPolicyInput, flag: Flag) => policy[flag] ?? flag !== 'requireMergedPullRequest';

/** Who may let a commit reach one deployment environment, and from which refs. `at` is its place in the field errors ("environments.0"). */
export function EnvironmentEditor(props: {
  at: string;
  policy: EnvironmentPolicyInput;
  /** Bitbucket no longer lists this environment: the policy is kept, and said to be. */
  notFound: boolean;
  errors: FieldErrors;
  onChange: (policy: EnvironmentPolicyInput) => void;
  onTouch: (path: string) => void;
  onRemove: () => void;
  /** Removes item `k` of a list inside the policy (a group, a branch or tag pattern), so touched fields can follow. */
  onRemoveItem: (list: 'requirements' | 'branches' | 'tags', k: number) => void;
}) {
  const { at, policy, errors, onChange } = props;
  return (
    <section className="card stack" aria-label={`Environment ${policy.name}`}>
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <h3>
          {policy.name} {props.notFound && <NotFound />}
        </h3>
        <button type="button" className="btn" onClick={props.onRemove}>
          Stop gating {policy.name}
        </button>
      </div>
      <RequirementsEditor
        at={at}
        requirements={policy.requirements}
        errors={errors}
        onChange={(requirements) => onChange({ ...policy, requirements })}
        onTouch={props.onTouch}
        onRemove={(j) => props.onRemoveItem('requirements', j)}
      />
      <p className="small subtle">No patterns: any branch or tag may deploy.</p>
      <PatternList {...props} kind="branch" at={`${at}.branches`} />
      <PatternList {...props} kind="tag" at={`${at}.tags`} />
      <fieldset>
        <legend>Pull requests and separation of duties</legend>
        {ENVIRONMENT_FLAGS.map(([flag, label]) => (
          <label key={flag} className="inline">
            <input type="checkbox" checked={flagOn(policy, flag)} onChange={(e) => onChange({ ...policy, [flag]: e.target.checked })} />
            {label}
          </label>
        ))}
      </fieldset>
    </section>
  );
}

/** A small list of branch or tag patterns, each its own input with its own error. */
function PatternList(props: {
  kind: 'branch' | 'tag';
  at: string;
  policy: EnvironmentPolicyInput;
  errors: FieldErrors;
  onChange: (policy: EnvironmentPolicyInput) => void;
  onTouch: (path: string) => void;
  onRemoveItem: (list: 'branches' | 'tags', k: number) => void;
}) {
  const { kind, at, policy, errors } = props;
  const list = kind === 'branch' ? 'branches' : 'tags';
  const Kind = kind === 'branch' ? 'Branch' : 'Tag';
  const patterns = policy[list] ?? [];
  const set = (next: string[]) => props.onChange({ ...policy, [list]: next });
  return (
    <fieldset className="stack patterns">
      <legend>{Kind} patterns</legend>
      {errors[at] && <p className="field-error">{errors[at]}</p>}
      {patterns.map((pattern, k) => (
        <div key={k} className="row">
          <Field label={`${Kind} pattern ${k + 1}`} error={errors[`${at}.${k}`]}>
            <input
              type="text"
              value={pattern}
              placeholder={kind === 'branch' ? 'main or release/*' : 'v*'}
              onChange={(e) => {
                set(patterns.map((p, m) => (m === k ? e.target.value : p)));
                props.onTouch(`${at}.${k}`);
              }}
              onBlur={() => props.onTouch(`${at}.${k}`)}
            />
          </Field>
          <button type="button" className="btn link" onClick={() => props.onRemoveItem(list, k)}>
            Remove {kind} pattern {k + 1}
          </button>
        </div>
      ))}
      <div>
        <button type="button" className="btn" onClick={() => set([...patterns, ''])}>
          Add a {kind} pattern
        </button>
      </div>
    </fieldset>
  );
}

/** Bitbucket no longer lists the environment: its policy is kept until an admin removes it. */
export function NotFound() {
  return <span className="lozenge warning">environment not found in Bitbucket</span>;
}
