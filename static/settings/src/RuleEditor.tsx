import { Fragment, useEffect, useState } from 'react';
import type { FieldErrors, MergeStrategy, RuleInput } from '../../../src/core/policy';
import { MERGE_STRATEGY_LABELS } from './mergeStrategies';
import { coverageWarning, type PatternCoverage } from './branches';
import { Field } from './Field';
import { RequirementsEditor } from './RequirementsEditor';
import { useServices } from './services';

type Flag = 'excludeAuthor' | 'excludeCommitAuthors' | 'rejectionsBlock' | 'autoMerge' | 'commitStatus';

/** Each switch with its label and default (the schema's). */
const FLAGS: [Flag, string, boolean][] = [
  ['excludeAuthor', "The pull request author's signature never counts", true],
  ['excludeCommitAuthors', 'Signatures from authors of commits in the pull request do not count', false],
  ['rejectionsBlock', 'A signed rejection from an eligible approver blocks the merge', true],
  ['autoMerge', 'Merge automatically once the quorum is met and the merge checks pass', false],
  ['commitStatus', 'Report a "countersign" build status on the head commit', false],
];

/** How long the pattern must stay unchanged before the repository's branches are asked about it. */
const BRANCH_CHECK_DELAY_MS = 400;

export function RuleEditor(props: {
  index: number;
  rule: RuleInput;
  /** The errors to show now (see visibleErrors). */
  errors: FieldErrors;
  /** Whether the pattern passes the schema, shown or not: only a valid pattern is checked against the branches. */
  patternValid: boolean;
  onChange: (rule: RuleInput) => void;
  onTouch: (path: string) => void;
  onRemove: () => void;
  onRemoveRequirement: (j: number) => void;
}) {
  const { index: i, rule, errors, onChange, onTouch } = props;
  const err = (path: string) => errors[`${i}.${path}`];
  const touch = (path: string) => onTouch(`${i}.${path}`);
  const pattern = rule.branchPattern.trim();
  const refFix = /^refs\/heads\/(.+)$/.exec(pattern)?.[1];
  const warning = useBranchWarning(pattern, props.patternValid);
  return (
    <section className="card stack" aria-label={`Rule ${i + 1}: ${rule.branchPattern || 'new rule'}`}>
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <h2>Rule {i + 1}</h2>
        <button type="button" className="btn" onClick={props.onRemove}>
          Remove rule
        </button>
      </div>
      <Field label="Target branch or pattern" error={err('branchPattern')} warning={warning}>
        <input
          type="text"
          value={rule.branchPattern}
          placeholder="main or release/*"
          onChange={(e) => {
            onChange({ ...rule, branchPattern: e.target.value });
            touch('branchPattern');
          }}
          onBlur={() => touch('branchPattern')}
        />
      </Field>
      {refFix && err('branchPattern') && (
        <button type="button" className="btn" onClick={() => onChange({ ...rule, branchPattern: refFix })}>
          Use “{refFix}”
        </button>
      )}
      <RequirementsEditor
        at={String(i)}
        requirements={rule.requirements}
        errors={errors}
        onChange={(requirements) => onChange({ ...rule, requirements })}
        onTouch={onTouch}
        onRemove={props.onRemoveRequirement}
      />
      <fieldset>
        <legend>Separation of duties and behaviour</legend>
        {FLAGS.map(([flag, label, byDefault]) => (
          <Fragment key={flag}>
            <label className="inline">
              <input type="checkbox" checked={rule[flag] ?? byDefault} onChange={(e) => onChange({ ...rule, [flag]: e.target.checked })} />
              {label}
            </label>
            {flag === 'autoMerge' && rule.autoMerge && (
              <label className="indent">
                Merge strategy{' '}
                <select value={rule.mergeStrategy ?? 'merge_commit'} onChange={(e) => onChange({ ...rule, mergeStrategy: e.target.value as MergeStrategy })}>
                  {Object.entries(MERGE_STRATEGY_LABELS).map(([value, text]) => (
                    <option key={value} value={value}>
                      {text}
                    </option>
                  ))}
                </select>
              </label>
            )}
          </Fragment>
        ))}
      </fieldset>
    </section>
  );
}

/** The warning for a valid pattern that matches none of the repository's branches (checked after typing pauses). */
function useBranchWarning(pattern: string, valid: boolean): string | undefined {
  const { branches } = useServices();
  const [coverage, setCoverage] = useState<{ pattern: string; coverage: PatternCoverage }>();
  useEffect(() => {
    if (!valid || !pattern) return;
    let current = true;
    const timer = setTimeout(() => void branches.coverage(pattern).then((c) => current && setCoverage({ pattern, coverage: c })), BRANCH_CHECK_DELAY_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [branches, pattern, valid]);
  return valid && coverage?.pattern === pattern ? coverageWarning(pattern, coverage.coverage) : undefined;
}
