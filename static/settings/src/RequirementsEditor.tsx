import type { FieldErrors, Requirement } from '../../../src/core/policy';
import { aNewRequirement } from './draft';
import { Field } from './Field';
import { MemberPicker } from './MemberPicker';

/**
 * The groups whose signatures a merge rule or an environment policy needs, with their counts. `at` is
 * where the requirements' owner sits in the draft's field errors ("0" for a rule, "environments.1").
 */
export function RequirementsEditor(props: {
  at: string;
  requirements: Requirement[];
  errors: FieldErrors;
  onChange: (requirements: Requirement[]) => void;
  onTouch: (path: string) => void;
  onRemove: (j: number) => void;
}) {
  const { at, requirements, errors, onChange } = props;
  const err = (path: string) => errors[`${at}.${path}`];
  const touch = (path: string) => props.onTouch(`${at}.${path}`);
  const set = (j: number, change: Partial<Requirement>) => onChange(requirements.map((r, k) => (k === j ? { ...r, ...change } : r)));
  return (
    <>
      <h3>Required signatures</h3>
      {err('requirements') && <p className="field-error">{err('requirements')}</p>}
      {requirements.map((req, j) => (
        <div key={j} className="requirement stack">
          <div className="grid-2">
            <Field label="Group name" error={err(`requirements.${j}.group`)}>
              <input
                type="text"
                value={req.group}
                onChange={(e) => {
                  set(j, { group: e.target.value });
                  touch(`requirements.${j}.group`);
                }}
                onBlur={() => touch(`requirements.${j}.group`)}
              />
            </Field>
            <Field label="Signatures needed" error={err(`requirements.${j}.count`)}>
              <input
                type="number"
                min={1}
                step={1}
                value={Number.isNaN(req.count) ? '' : req.count}
                onChange={(e) => {
                  set(j, { count: e.target.value === '' ? NaN : Number(e.target.value) });
                  touch(`requirements.${j}.count`);
                }}
                onBlur={() => touch(`requirements.${j}.count`)}
              />
            </Field>
          </div>
          <MemberPicker
            group={req.group}
            selected={req.members}
            error={err(`requirements.${j}.members`)}
            onChange={(members) => {
              set(j, { members });
              touch(`requirements.${j}.members`);
            }}
          />
          {requirements.length > 1 && (
            <button type="button" className="btn link" onClick={() => props.onRemove(j)}>
              Remove group {req.group}
            </button>
          )}
        </div>
      ))}
      <div>
        <button type="button" className="btn" onClick={() => onChange([...requirements, aNewRequirement(requirements)])}>
          Add a group
        </button>
      </div>
    </>
  );
}
