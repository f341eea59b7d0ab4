import { useEffect, useId, useRef, useState } from 'react';
import { searchSummary, type SearchResult } from './directory';
import { useNames, useServices } from './services';

/** People shown a page at a time; "Show more people" adds as many again. */
const PAGE = 20;
/** How long typing must pause before the workspace is searched. */
const DEBOUNCE_MS = 250;

/**
 * Picks a group's members by name from a workspace of any size: the chosen people as removable chips,
 * and a search that reads the workspace's members as it needs them. Account IDs stay behind the scenes.
 */
export function MemberPicker(props: { group: string; selected: string[]; error?: string; onChange: (ids: string[]) => void }) {
  const { directory } = useServices();
  const { label, isFormer } = useNames(props.selected);
  const group = props.group.trim() || 'this group';
  const [query, setQuery] = useState('');
  const [debounced, setDebounced] = useState('');
  const [limit, setLimit] = useState(PAGE);
  /** The last answer, and the query it answers: while a new query is searched, only its own matches show. */
  const [result, setResult] = useState<SearchResult & { query: string }>();
  const [searching, setSearching] = useState(false);
  const [failure, setFailure] = useState<string>();
  const [attempt, setAttempt] = useState(0);
  const chipsRef = useRef<HTMLUListElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const [focusChip, setFocusChip] = useState<number>();
  const searchId = useId();
  const statusId = useId();
  const errorId = useId();

  useEffect(() => {
    const timer = setTimeout(() => setDebounced(query), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query]);

  useEffect(() => {
    let current = true;
    setSearching(true);
    setFailure(undefined);
    directory
      .search(debounced, limit, {
        stillWanted: () => current,
        onProgress: (matches) => current && setResult({ query: debounced, matches, more: true, complete: false, loaded: directory.loaded, total: directory.total }),
      })
      .then(
        (found) => current && setResult({ ...found, query: debounced }),
        (error: Error) => current && setFailure(`Could not search the workspace's members: ${error.message}.`),
      )
      .finally(() => current && setSearching(false));
    return () => {
      current = false;
    };
  }, [directory, debounced, limit, attempt]);

  // After a chip is removed, focus stays in the chips (the next one, else the previous), or goes to the search.
  useEffect(() => {
    if (focusChip === undefined) return;
    const buttons = chipsRef.current?.querySelectorAll<HTMLButtonElement>('button') ?? [];
    (buttons[Math.min(focusChip, buttons.length - 1)] ?? searchRef.current)?.focus();
    setFocusChip(undefined);
  }, [focusChip, props.selected]);

  const toggle = (id: string, on: boolean) => props.onChange(on ? [...props.selected, id] : props.selected.filter((s) => s !== id));
  const remove = (index: number) => {
    props.onChange(props.selected.filter((_, k) => k !== index));
    setFocusChip(index);
  };
  const current = result?.query === debounced && debounced === query ? result : undefined;
  const summary = searching && current ? searchSummary(debounced, current, true) : searchSummary(debounced, current, searching || debounced !== query);

  return (
    <fieldset className="members" aria-describedby={props.error ? errorId : undefined}>
      <legend>
        Members of {group} ({props.selected.length} selected)
      </legend>
      {props.selected.length > 0 ? (
        <ul className="plain chips" ref={chipsRef} aria-label={`Chosen members of ${group}`}>
          {props.selected.map((id, index) => (
            <li key={id} className="chip">
              <span>{label(id)}</span>
              {isFormer(id) && <span className="lozenge warning">not in workspace</span>}
              <button type="button" className="chip-remove" aria-label={`Remove ${label(id)} from ${group}`} title={`Remove from ${group}`} onClick={() => remove(index)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="subtle small">Nobody chosen yet: find people below.</p>
      )}
      <label htmlFor={searchId}>Find people to add to {group}</label>
      <input
        id={searchId}
        ref={searchRef}
        type="search"
        autoComplete="off"
        placeholder="Type a name"
        value={query}
        aria-describedby={statusId}
        onChange={(e) => {
          setQuery(e.target.value);
          setLimit(PAGE);
        }}
      />
      <p id={statusId} role="status" aria-live="polite" className="small subtle" data-testid="member-search-status">
        {failure ?? summary}
      </p>
      {failure && (
        <button type="button" className="btn" onClick={() => setAttempt((a) => a + 1)}>
          Search again
        </button>
      )}
      {current && current.matches.length > 0 && (
        <ul className="plain member-list" aria-label={`People found for ${group}`}>
          {current.matches.map((m) => (
            <li key={m.accountId}>
              <label className="inline">
                <input type="checkbox" checked={props.selected.includes(m.accountId)} onChange={(e) => toggle(m.accountId, e.target.checked)} />
                {m.name}
              </label>
            </li>
          ))}
        </ul>
      )}
      {current?.more && !searching && (
        <button type="button" className="btn link" onClick={() => setLimit((l) => l + PAGE)}>
          Show more people
        </button>
      )}
      {props.error && (
        <p id={errorId} className="field-error">
          {props.error}
        </p>
      )}
    </fieldset>
  );
}
