import { useId, useState } from 'react';
import type { Member } from './members';

/** Picks a group's members from the workspace's people by name; account IDs stay behind the scenes. */
export function MemberPicker(props: { group: string; selected: string[]; members: Member[]; names: Record<string, string>; error?: string; onChange: (ids: string[]) => void }) {
  const [filter, setFilter] = useState('');
  const filterId = useId();
  const errorId = useId();
  const known = new Set(props.members.map((m) => m.accountId));
  // People still in the policy but no longer in the workspace stay listed, so they can be removed.
  const everyone = [...props.members, ...props.selected.filter((id) => !known.has(id)).map((id) => ({ accountId: id, name: props.names[id] ?? id }))];
  const shown = everyone.filter((m) => m.name.toLowerCase().includes(filter.trim().toLowerCase()));
  const toggle = (id: string, on: boolean) => props.onChange(on ? [...props.selected, id] : props.selected.filter((s) => s !== id));
  return (
    <fieldset className="members" aria-describedby={props.error ? errorId : undefined}>
      <legend>
        Members of {props.group || 'this group'} ({props.selected.length} selected)
      </legend>
      {everyone.length > 8 && (
        <>
          <label htmlFor={filterId} className="sr-only">
            Filter people
          </label>
          <input id={filterId} type="text" placeholder="Filter people" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </>
      )}
      <ul className="plain member-list">
        {shown.map((m) => (
          <li key={m.accountId}>
            <label className="inline">
              <input type="checkbox" checked={props.selected.includes(m.accountId)} onChange={(e) => toggle(m.accountId, e.target.checked)} />
              {m.name}
              {!known.has(m.accountId) && <span className="lozenge warning">not in workspace</span>}
            </label>
          </li>
        ))}
        {shown.length === 0 && <li className="subtle">Nobody matches.</li>}
      </ul>
      {props.error && (
        <p id={errorId} className="field-error">
          {props.error}
        </p>
      )}
    </fieldset>
  );
}
