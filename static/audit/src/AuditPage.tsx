import { requestBitbucket } from '@forge/bridge';
import { Fragment, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { Payload } from '../../../src/contract';
import type { AuditEntry, AuditPage as Page } from '../../../src/handlers/audit';
import { call } from '../../shared/bridge';
import { ErrorBanner, formatTime, Loading } from '../../shared/ui';
import { NameBook } from '../../settings/src/names';
import { EntryDetail } from './EntryDetail';
import { ExportPanel } from './ExportPanel';

export type Filters = Omit<Payload<'getAuditPage'>, 'cursor'>;

/** Event types, as the filter offers them and the list names them. */
export const TYPE_LABELS: Record<string, string> = {
  'decision.accepted': 'Decision',
  'key.enrolled': 'Key enrolled',
  'key.renamed': 'Key renamed',
  'key.revoked': 'Key revoked',
  'policy.saved': 'Policy saved',
  'merge.recorded': 'Merge',
  'merge.bypassed': 'Merge (gate bypassed)',
  'automerge.attempted': 'Auto-merge attempted',
  'automerge.failed': 'Auto-merge failed',
  'deployment.requested': 'Deployment requested',
  'deployment.decision.accepted': 'Deployment decision',
  'deployment.allowed': 'Deployment allowed',
  'deployment.reported': 'Deployment reported',
  unreadable: 'Unreadable entry',
};

type State =
  | { kind: 'loading' }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'ready'; entries: AuditEntry[]; last: Page; more: boolean; newest: number; error?: { code: string; message: string } };

/** The repository's Countersign ledger, newest first, with filters and paging; each entry opens to its full content. */
export function AuditPage() {
  const [filters, setFilters] = useState<Filters>({});
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<number>();
  const generation = useRef(0);
  const workspace = state.kind === 'ready' ? state.last.workspace : undefined;
  const names = useMemo(() => (workspace ? new NameBook((path) => requestBitbucket(path), workspace) : undefined), [workspace]);
  const [, setNamesVersion] = useState(0);
  useEffect(() => names?.subscribe(() => setNamesVersion(names.version)), [names]);
  // Everyone any loaded page named, so the person filter can offer them by name whatever is shown now.
  const seen = useRef(new Set<string>());
  if (state.kind === 'ready') for (const e of state.entries) for (const id of e.people) seen.current.add(id);
  const people = [...seen.current];
  useEffect(() => names?.need(people), [names, people.join(' ')]);
  // Kept while the list reloads for new filters, so an export under way is not cut off.
  const exportable = useRef<{ canExport: boolean; newest: number } | undefined>(undefined);
  if (state.kind === 'ready') exportable.current = { canExport: state.last.canExport, newest: state.newest };
  const label = (id: string | null) => (id === null ? 'Countersign' : (names?.label(id) ?? id));

  async function load(next: Filters, cursor?: string) {
    const mine = ++generation.current;
    setBusy(true);
    const result = await call('getAuditPage', { ...next, ...(cursor ? { cursor } : {}) });
    if (mine !== generation.current) return;
    setBusy(false);
    setState((previous) => {
      const kept = cursor && previous.kind === 'ready' ? previous.entries : [];
      if (!result.ok) return previous.kind === 'ready' && cursor ? { ...previous, error: result } : { kind: 'failed', code: result.code, message: result.message };
      return { kind: 'ready', entries: [...kept, ...result.data.entries], last: result.data, more: result.data.nextCursor !== null, newest: cursor && previous.kind === 'ready' ? previous.newest : result.data.top };
    });
  }
  useEffect(() => void load({}), []);

  function apply(next: Filters) {
    setFilters(next);
    setOpen(undefined);
    setState({ kind: 'loading' });
    void load(next);
  }

  return (
    <main className="stack audit" aria-labelledby="audit-title">
      <h1 id="audit-title">Countersign audit log</h1>
      <p className="subtle">Every decision, key, policy and merge Countersign recorded for this repository, newest first. Each entry is signed by the app and chained to the one before.</p>
      <FilterBar onApply={apply} people={people} label={label} />
      {state.kind === 'loading' && <Loading what="the audit log" />}
      {state.kind === 'failed' && <ErrorBanner message={state.message} code={state.code} onRetry={() => apply(filters)} />}
      {exportable.current && <ExportPanel filters={filters} canExport={exportable.current.canExport} newest={exportable.current.newest} />}
      {state.kind === 'ready' && (
        <>
          <p role="status" aria-live="polite" data-testid="audit-status">
            {summary(state, Object.values(filters).some((v) => v !== undefined))}
          </p>
          {state.entries.length > 0 && (
            <table className="entries" aria-label="Ledger entries">
              <thead>
                <tr>
                  <th scope="col">Entry</th>
                  <th scope="col">Time</th>
                  <th scope="col">Event</th>
                  <th scope="col">Who</th>
                  <th scope="col">Pull request</th>
                  <th scope="col">Commit</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {state.entries.map((entry) => (
                  <Fragment key={entry.seq}>
                    <tr data-testid="audit-entry" data-seq={entry.seq}>
                      <td>
                        <button
                          type="button"
                          className="btn link"
                          aria-expanded={open === entry.seq}
                          aria-controls={`entry-${entry.seq}`}
                          aria-label={`${open === entry.seq ? 'Close' : 'Open'} entry ${entry.seq}`}
                          onClick={() => setOpen(open === entry.seq ? undefined : entry.seq)}
                        >
                          #{entry.seq}
                        </button>
                      </td>
                      <td>{entry.at ? formatTime(entry.at) : '—'}</td>
                      <td>{TYPE_LABELS[entry.type] ?? entry.type}</td>
                      <td>{label(entry.who)}</td>
                      <td>{entry.pullRequest !== null ? `#${entry.pullRequest}` : '—'}</td>
                      <td>{entry.commit ? <code title={entry.commit}>{entry.commit.slice(0, 7)}</code> : '—'}</td>
                      <td>
                        {isFlagged(entry) && <span className="lozenge danger">Flagged</span>} {brief(entry)}
                      </td>
                    </tr>
                    {open === entry.seq && (
                      <tr className="entry-detail" id={`entry-${entry.seq}`}>
                        <td colSpan={7}>
                          <EntryDetail entry={entry} label={label} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          )}
          {state.error && <ErrorBanner message={state.error.message} code={state.error.code} />}
          {state.more && (
            <button type="button" className="btn" disabled={busy} onClick={() => void load(filters, state.last.nextCursor ?? undefined)}>
              {busy ? 'Loading…' : Object.values(filters).some((v) => v !== undefined) ? 'Search further back' : 'Show older entries'}
            </button>
          )}
        </>
      )}
    </main>
  );
}

function summary(state: Extract<State, { kind: 'ready' }>, filtered: boolean): string {
  const n = state.entries.length;
  const count = `${n} ${n === 1 ? 'entry' : 'entries'}`;
  if (!filtered) return state.newest === 0 ? 'Nothing has been recorded in this repository yet.' : `Showing the newest ${count} of ${state.newest}.`;
  const reach = state.last.searchedTo !== null ? (state.more ? ` Searched back to #${state.last.searchedTo}.` : ' Searched the whole log.') : '';
  return `${count} matching.${reach}`;
}

/** A deployment Bitbucket reported as run without the gate's yes: a control that failed, shown as such. */
const isFlagged = (entry: AuditEntry) => entry.type === 'deployment.reported' && (entry.event as { flagged?: unknown } | null)?.flagged === true;

const short = (commit: string | null) => (commit ?? '').slice(0, 7);

/** One line of what the entry says. */
function brief(entry: AuditEntry): string {
  const event = (entry.event ?? {}) as Record<string, any>;
  switch (entry.type) {
    case 'decision.accepted':
      return entry.decision === 'reject' ? 'Rejected' : 'Approved';
    case 'key.enrolled':
      return `“${event.label}”`;
    case 'key.renamed':
      return `“${event.previousLabel}” → “${event.label}”`;
    case 'key.revoked':
      return event.scope === 'everywhere' ? 'Revoked everywhere' : 'Revoked in this repository';
    case 'policy.saved':
      return `Version ${entry.policyVersion}`;
    case 'merge.recorded':
    case 'merge.bypassed':
      return `${event.mergedBy === 'countersign' ? 'By Countersign' : 'In Bitbucket'}${event.bypassed ? ', while the gate said no' : ''}`;
    case 'automerge.failed':
      return String(event.reason ?? '');
    case 'deployment.requested':
      return `Deploying ${short(entry.commit)} to ${event.request?.environmentName ?? 'an environment'} waits for approval`;
    case 'deployment.decision.accepted':
      return `${entry.decision === 'reject' ? 'Rejected' : 'Approved'} deploying ${short(entry.commit)}`;
    case 'deployment.allowed':
      return `Gate allowed ${short(entry.commit)} to ${event.verdict?.facts?.environment?.name ?? 'its environment'}`;
    case 'deployment.reported':
      return event.flagged
        ? `Deployment of ${short(entry.commit)} ${event.state} without Countersign's approval`
        : `Deployment of ${short(entry.commit)} ${event.state}${event.outcome ? ` (${event.outcome})` : ''}${event.allowed ? ', allowed' : ''}`;
    default:
      return '';
  }
}

/** Pull request, person, event type and dates; applied together, cleared together. */
function FilterBar({ onApply, people, label }: { onApply: (filters: Filters) => void; people: string[]; label: (id: string) => string }) {
  const [pullRequest, setPullRequest] = useState('');
  const [person, setPerson] = useState('');
  const [type, setType] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [error, setError] = useState<string>();
  const known = people.map((id) => ({ id, name: label(id) }));

  function submit(event: FormEvent) {
    event.preventDefault();
    const pr = pullRequest.trim();
    if (pr && !/^[1-9]\d{0,9}$/.test(pr)) return setError('A pull request is its number, such as 42.');
    if (from && to && from > to) return setError('The “from” date is after the “to” date; swap them.');
    setError(undefined);
    const who = person.trim();
    const id = known.find((p) => p.name === who)?.id ?? who;
    onApply({ ...(pr ? { pullRequest: Number(pr) } : {}), ...(id ? { person: id } : {}), ...(type ? { type } : {}), ...(from ? { from } : {}), ...(to ? { to } : {}) });
  }

  function clear() {
    setPullRequest('');
    setPerson('');
    setType('');
    setFrom('');
    setTo('');
    setError(undefined);
    onApply({});
  }

  return (
    <form className="stack" role="search" aria-label="Filter the audit log" onSubmit={submit}>
      <div className="filters">
        <div>
          <label htmlFor="filter-pr">Pull request</label>
          <input id="filter-pr" type="text" inputMode="numeric" placeholder="Any" value={pullRequest} onInput={(e) => setPullRequest(e.currentTarget.value)} aria-invalid={error?.startsWith('A pull') ? true : undefined} />
        </div>
        <div>
          <label htmlFor="filter-person">Person</label>
          <input id="filter-person" type="text" list="audit-people" placeholder="Name or account id" value={person} onInput={(e) => setPerson(e.currentTarget.value)} />
          <datalist id="audit-people">
            {known.map((p) => (
              <option key={p.id} value={p.name} />
            ))}
          </datalist>
        </div>
        <div>
          <label htmlFor="filter-type">Event</label>
          <select id="filter-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            <option value="">Any event</option>
            {Object.entries(TYPE_LABELS)
              .filter(([value]) => value !== 'unreadable')
              .map(([value, text]) => (
                <option key={value} value={value}>
                  {text}
                </option>
              ))}
          </select>
        </div>
        <div>
          <label htmlFor="filter-from">From (UTC)</label>
          <input id="filter-from" type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </div>
        <div>
          <label htmlFor="filter-to">To (UTC)</label>
          <input id="filter-to" type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </div>
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <div className="row">
        <button type="submit" className="btn primary">
          Apply filters
        </button>
        <button type="button" className="btn" onClick={clear}>
          Clear filters
        </button>
      </div>
    </form>
  );
}
