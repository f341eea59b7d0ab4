import { useState } from 'react';
import type { EnvironmentPolicyInput } from '../../../src/core/environmentPolicy';
import type { FieldErrors } from '../../../src/core/policy';
import type { DeploymentEnvironments } from '../../../src/handlers/settings';
import { aNewEnvironmentPolicy, forgetIndex } from './draft';
import { EnvironmentEditor } from './EnvironmentEditor';

/**
 * The policies that gate deployments, one per Bitbucket deployment environment: added for an
 * environment Bitbucket lists and nothing gates yet, edited in place, removed. `onChange` may say how
 * the touched fields move when an item was removed.
 */
export function EnvironmentsEditor(props: {
  environments: EnvironmentPolicyInput[];
  listed: DeploymentEnvironments;
  errors: FieldErrors;
  onChange: (environments: EnvironmentPolicyInput[], touched?: (t: Set<string>) => Set<string>) => void;
  onTouch: (path: string) => void;
}) {
  const { environments, listed, errors, onChange } = props;
  const gated = new Set(environments.map((e) => e.environment));
  const open = listed.ok ? listed.environments.filter((e) => !gated.has(e.uuid)) : [];
  const [chosen, setChosen] = useState('');
  const pick = open.find((e) => e.uuid === chosen) ?? open[0];
  const set = (i: number, next: EnvironmentPolicyInput) => onChange(environments.map((e, k) => (k === i ? next : e)));
  return (
    <section className="stack" aria-labelledby="environments-title">
      <h2 id="environments-title">Deployment environments</h2>
      {!listed.ok && <p className="banner warning">{listed.message}</p>}
      {errors.environments && <p className="field-error">{errors.environments}</p>}
      {environments.map((policy, i) => (
        <EnvironmentEditor
          key={policy.environment}
          at={`environments.${i}`}
          policy={policy}
          notFound={listed.ok && listed.notFound.includes(policy.environment)}
          errors={errors}
          onChange={(next) => set(i, next)}
          onTouch={props.onTouch}
          onRemove={() => onChange(environments.filter((_, k) => k !== i), (t) => forgetIndex(t, 'environments', i))}
          onRemoveItem={(list, k) =>
            onChange(
              environments.map((e, m) => (m === i ? { ...e, [list]: (e[list] ?? []).filter((_: unknown, n: number) => n !== k) } : e)),
              (t) => forgetIndex(t, `environments.${i}.${list}`, k),
            )
          }
        />
      ))}
      {pick ? (
        <div className="row">
          <label>
            Environment{' '}
            <select value={pick.uuid} onChange={(e) => setChosen(e.target.value)}>
              {open.map((e) => (
                <option key={e.uuid} value={e.uuid}>
                  {e.name}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className="btn" onClick={() => onChange([...environments, aNewEnvironmentPolicy(pick)])}>
            Gate this environment
          </button>
        </div>
      ) : (
        listed.ok && <p className="small subtle">No other deployment environment to gate.</p>
      )}
    </section>
  );
}
