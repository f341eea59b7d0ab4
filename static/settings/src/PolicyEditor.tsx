import { useMemo, useState } from 'react';
import type { Policy, RuleInput } from '../../../src/core/policy';
import type { SettingsState } from '../../../src/handlers/settings';
import { call } from '../../shared/bridge';
import { ErrorBanner } from '../../shared/ui';
import { aNewRule, validateDraft } from './draft';
import type { Member } from './members';
import { RuleEditor } from './RuleEditor';

type SaveState = { kind: 'idle' } | { kind: 'saving' } | { kind: 'saved'; version: number } | { kind: 'failed'; code: string; message: string };

/** The admin's editor: rules checked as they are typed, with the backend's own schema, then saved as a new version. */
export function PolicyEditor({ settings, members, names, onSaved }: { settings: SettingsState; members: Member[]; names: Record<string, string>; onSaved: (policy: Policy) => void }) {
  const [draft, setDraft] = useState<RuleInput[]>(() => settings.policy?.rules ?? []);
  const [touched, setTouched] = useState(false);
  const [save, setSave] = useState<SaveState>({ kind: 'idle' });
  const validation = useMemo(() => validateDraft(draft), [draft]);
  const errors = touched && !validation.ok ? validation.errors : {};

  const edit = (rules: RuleInput[]) => {
    setDraft(rules);
    setTouched(true);
    if (save.kind === 'saved') setSave({ kind: 'idle' });
  };

  async function onSave() {
    setTouched(true);
    if (!validation.ok) return;
    setSave({ kind: 'saving' });
    const result = await call('saveSettings', { baseVersion: settings.policy?.version ?? 0, rules: validation.rules });
    if (!result.ok) return setSave({ kind: 'failed', code: result.code, message: result.message });
    onSaved(result.data.policy);
    setDraft(result.data.policy.rules);
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
      {draft.length === 0 && <p className="subtle">No rules: pull requests into any branch merge without signatures. Add a rule to gate a branch.</p>}
      {errors[''] && <p className="field-error">{errors['']}</p>}
      {draft.map((rule, i) => (
        <RuleEditor
          key={i}
          index={i}
          rule={rule}
          errors={errors}
          members={members}
          names={names}
          onChange={(next) => edit(draft.map((r, k) => (k === i ? next : r)))}
          onRemove={() => edit(draft.filter((_, k) => k !== i))}
        />
      ))}
      <div className="row">
        <button type="button" className="btn" onClick={() => edit([...draft, aNewRule(draft)])}>
          Add a rule
        </button>
        <button type="submit" className="btn primary" disabled={save.kind === 'saving'}>
          {save.kind === 'saving' ? 'Saving…' : 'Save policy'}
        </button>
        <span role="status" aria-live="polite" data-testid="save-status">
          {save.kind === 'saved' && `Saved as version ${save.version}.`}
          {touched && !validation.ok && 'Fix the highlighted fields to save.'}
        </span>
      </div>
      {save.kind === 'failed' && <ErrorBanner message={save.message} code={save.code} />}
    </form>
  );
}
