import type { AuditEntry } from '../../../src/handlers/audit';

/** An opened entry: who, what, which commit, the signed statement in words, then everything as recorded. */
export function EntryDetail({ entry, label }: { entry: AuditEntry; label: (id: string | null) => string }) {
  const statement = entry.statement as { subject?: { name?: string; digest?: Record<string, string> }[]; predicateType?: string; predicate?: Record<string, unknown> } | null;
  const predicate = statement?.predicate ?? {};
  const event = entry.event as { flagged?: unknown; state?: unknown } | null;
  const flagged = entry.type === 'deployment.reported' && event?.flagged === true;
  const rows: [string, string | undefined][] = [
    ['Entry', `#${entry.seq}`],
    ['Recorded at', entry.at ?? 'unreadable'],
    ['Event', entry.type],
    ['Who', entry.who === null ? 'Countersign (no person)' : `${label(entry.who)} (${entry.who})`],
    ['People named', entry.people.length ? entry.people.map((id) => label(id)).join(', ') : undefined],
    ['Pull request', entry.pullRequest !== null ? `#${entry.pullRequest}` : undefined],
    ['Commit', entry.commit ?? undefined],
    ['Decision', entry.decision ?? undefined],
    ['Key', entry.keyId ?? undefined],
    ['Policy version', entry.policyVersion !== null ? String(entry.policyVersion) : undefined],
    ['Entry hash', entry.hash],
    ['Previous entry hash', entry.prev ?? undefined],
    ['Signed by the app with key', entry.envelope?.signatures?.[0]?.keyid],
  ];
  return (
    <div className="stack" data-testid="entry-detail">
      <h2>Entry #{entry.seq}</h2>
      {flagged && (
        <div className="banner danger" role="alert">
          This deployment {String(event?.state ?? 'ran')} in an environment Countersign gates without Countersign's approval: the gate never allowed commit {entry.commit?.slice(0, 7)} there.
        </div>
      )}
      <Fields rows={rows} />
      {statement && (
        <section className="stack" aria-label="Signed statement">
          <h3>The statement {label(entry.who)} signed</h3>
          <Fields
            rows={[
              ['Statement type', statement.predicateType],
              ['Subject', statement.subject?.map((s) => s.name).join(', ')],
              ['Commit signed', statement.subject?.map((s) => Object.values(s.digest ?? {}).join(' ')).join(', ')],
              ...Object.entries(predicate).map(([key, value]): [string, string] => [key, typeof value === 'string' ? value : JSON.stringify(value)]),
            ]}
          />
          <details>
            <summary>Statement as signed (JSON)</summary>
            <pre className="json">{JSON.stringify(statement, null, 2)}</pre>
          </details>
        </section>
      )}
      <details>
        <summary>Recorded event (JSON)</summary>
        <pre className="json">{JSON.stringify(entry.event, null, 2)}</pre>
      </details>
      <details>
        <summary>App-signed envelope (DSSE)</summary>
        <pre className="json">{JSON.stringify(entry.envelope, null, 2)}</pre>
      </details>
    </div>
  );
}

function Fields({ rows }: { rows: [string, string | undefined][] }) {
  return (
    <dl className="fields">
      {rows
        .filter((row): row is [string, string] => row[1] !== undefined && row[1] !== '')
        .map(([term, value]) => (
          <div key={term} style={{ display: 'contents' }}>
            <dt>{term}</dt>
            <dd>{value}</dd>
          </div>
        ))}
    </dl>
  );
}
