import { useEffect, useMemo, useRef, useState } from 'react';
import type { Policy } from '../../../src/core/policy';
import type { SettingsState } from '../../../src/handlers/settings';
import { call } from '../../shared/bridge';
import { Confirm, ErrorBanner } from '../../shared/ui';
import { aNewRule, forgetIndex, isDirty, ungatesEverything, visibleErrors, type PolicyDraft } from './draft';
import { EnvironmentsEditor } from './EnvironmentsEditor';
import { checkRules, useRulesCheck } from './useRulesCheck';
import { RuleEditor } from './RuleEditor';

type SaveState = { kind: 'idle' } | { kind: 'saving' } | { kind: 'saved'; version: number } | { kind: 'failed'; code: string; message: string };

/**
 * The admin's editor: rules and deployment environment policies checked by the backend as they are
 * typed (errors shown once a field is touched, or on save), then saved together as a new version. Saving no rules over a policy that has
 * some asks first; leaving with unsaved changes asks the browser to warn.
 */
export function PolicyEditor({ settings, onSaved, onReload }: { settings: SettingsState; onSaved: (policy: Policy) => void; onReload: () => void }) {
  const saved = useMemo(() => ({ rules: settings.policy?.rules ?? [], environments: settings.policy?.environments ?? [] }), [settings.policy]);
  const [draft, setDraft] = useState<PolicyDraft>(() => saved);
  const [touched, setTouched] = useState<Set<string>>(() => new Set());
  const [submitted, setSubmitted] = useState(false);
  const [confirmEmpty, setConfirmEmpty] = useState(false);
  const [save, setSave] = useState<SaveState>({ kind: 'idle' });
  const { exact: validation, latest } = useRulesCheck(draft);
  const errors = !latest || latest.ok ? {} : visibleErrors(latest.errors, touched, submitted);
  const dirty = useMemo(
    () => isDirty(draft, validation?.ok ? { rules: validation.rules, environments: validation.environments ?? [] } : undefined, saved),
    [draft, validation, saved],
  );
  const invalid = latest !== undefined && !latest.ok;

  // Read when the page is left, not when an effect last ran: the warning follows the draft at once.
  const dirtyNow = useRef(dirty);
  dirtyNow.current = dirty;
  useEffect(() => {
    const warn = (event: BeforeUnloadEvent) => {
      if (!dirtyNow.current) return;
      event.preventDefault();
      event.returnValue = '';
    };
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, []);

  const edit = (next: Partial<PolicyDraft>, touchedNow: Set<string> = touched) => {
    setDraft({ ...draft, ...next });
    setTouched(touchedNow);
    setConfirmEmpty(false);
    if (save.kind === 'saved') setSave({ kind: 'idle' });
  };
  const touch = (path: string) => setTouched((t) => (t.has(path) ? t : new Set(t).add(path)));

  async function onSave(confirmed = false) {
    setSubmitted(true);
    setSave({ kind: 'saving' });
    // Checked again here: the answer shown may be for an earlier draft, or may not have come at all.
    const checked = validation ?? (await checkRules(draft));
    if (checked && !checked.ok) return setSave({ kind: 'idle' });
    const rules = checked?.rules ?? draft.rules;
    const environments = checked?.environments ?? draft.environments;
    if (ungatesEverything(rules, saved.rules) && !confirmed) {
      setSave({ kind: 'idle' });
      return setConfirmEmpty(true);
    }
    setConfirmEmpty(false);
    const result = await call('saveSettings', { baseVersion: settings.policy?.version ?? 0, rules, environments });
    if (!result.ok) return setSave({ kind: 'failed', code: result.code, message: result.message });
    onSaved(result.data.policy);
    setDraft({ rules: result.data.policy.rules, environments: result.data.policy.environments ?? [] });
    setTouched(new Set());
    setSubmitted(false);
    setSave({ kind: 'saved', version: result.data.policy.version });
  }

  return (
    <form
      className="stack"
      aria-labelledby="policy-title"
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        void onSave();
      }}
    >
      <h2 id="policy-title">Policy</h2>
      {draft.rules.length === 0 && <p className="subtle">No rules: pull requests into any branch merge without signatures. Add a rule to gate a branch.</p>}
      {errors[''] && <p className="field-error">{errors['']}</p>}
      {draft.rules.map((rule, i) => (
        <RuleEditor
          key={i}
          index={i}
          rule={rule}
          errors={errors}
          patternValid={!latest || latest.ok || !latest.errors[`${i}.branchPattern`]}
          onChange={(next) => edit({ rules: draft.rules.map((r, k) => (k === i ? next : r)) })}
          onTouch={touch}
          onRemove={() => edit({ rules: draft.rules.filter((_, k) => k !== i) }, forgetIndex(touched, '', i))}
          onRemoveRequirement={(j) =>
            edit(
              { rules: draft.rules.map((r, k) => (k === i ? { ...r, requirements: r.requirements.filter((_, m) => m !== j) } : r)) },
              forgetIndex(touched, `${i}.requirements`, j),
            )
          }
        />
      ))}
      {confirmEmpty && (
        <Confirm title="Save a policy with no rules?" confirmLabel="Save with no rules" danger onConfirm={() => void onSave(true)} onCancel={() => setConfirmEmpty(false)}>
          <p>
            Every branch this policy gates now ({saved.rules.map((r) => r.branchPattern).join(', ')}) would merge without any signature. Add a rule instead if you meant to change one.
          </p>
        </Confirm>
      )}
      <div>
        <button type="button" className="btn" onClick={() => edit({ rules: [...draft.rules, aNewRule(draft.rules)] })}>
          Add a rule
        </button>
      </div>
      <EnvironmentsEditor
        environments={draft.environments}
        listed={settings.deploymentEnvironments}
        errors={errors}
        onChange={(environments, touchedNow) => edit({ environments }, touchedNow?.(touched))}
        onTouch={touch}
      />
      <div className="row">
        <button type="submit" className="btn primary" disabled={save.kind === 'saving'}>
          {save.kind === 'saving' ? 'Saving…' : 'Save policy'}
        </button>
        <span role="status" aria-live="polite" data-testid="save-status">
          {save.kind === 'saved' && !dirty && `Saved as version ${save.version}.`}
          {submitted && invalid && 'Fix the highlighted fields to save.'}
          {save.kind !== 'saved' && save.kind !== 'saving' && dirty && !(submitted && invalid) && 'Unsaved changes.'}
        </span>
      </div>
      {save.kind === 'failed' && (
        <div className="stack">
          <ErrorBanner message={save.message} code={save.code} />
          {save.code === 'CONFLICT' && (
            <button type="button" className="btn primary" onClick={onReload}>
              Reload the policy (your unsaved changes are dropped)
            </button>
          )}
        </div>
      )}
    </form>
  );
}
