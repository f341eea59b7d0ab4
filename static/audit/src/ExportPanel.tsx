import { useEffect, useRef, useState } from 'react';
import type { Payload } from '../../../src/contract';
import { call } from '../../shared/bridge';
import { ErrorBanner } from '../../shared/ui';
import type { Filters } from './AuditPage';

type Format = Payload<'exportEvidence'>['format'];

/** What each format holds, and what one of its items is called in the progress line. */
export const FORMATS: Record<Format, { label: string; hint: string; item: [string, string] }> = {
  bundle: { label: 'Evidence bundle (.jsonl)', hint: 'the whole ledger with the public keys to check it, for countersign verify', item: ['entry', 'entries'] },
  sigstore: { label: 'Sigstore bundles (.jsonl)', hint: 'one per signed decision, each checked with its approver’s key', item: ['Sigstore bundle', 'Sigstore bundles'] },
  vsa: { label: 'SLSA verification summaries (.jsonl)', hint: 'one per merge, signed with the app’s ledger key', item: ['verification summary', 'verification summaries'] },
  csv: { label: 'CSV', hint: 'one row per ledger entry, for spreadsheets', item: ['row', 'rows'] },
};

type Job =
  | { kind: 'idle'; note?: string }
  | { kind: 'running'; format: Format; read: number; total: number; items: number }
  | { kind: 'done'; format: Format; url: string; filename: string; bytes: number; items: number; total: number }
  | { kind: 'failed'; code: string; message: string };

/** The export request the page's filters map to; the bundle is always the whole ledger (it is checked as one chain). */
export function exportScope(format: Format, filters: Filters): Omit<Payload<'exportEvidence'>, 'cursor'> {
  if (format === 'bundle') return { format };
  return {
    format,
    ...(filters.pullRequest !== undefined ? { pullRequest: filters.pullRequest } : {}),
    ...(filters.from ? { from: filters.from } : {}),
    // The export's dates mean what the page's do: a day, inclusive.
    ...(filters.to ? { to: filters.to } : {}),
  };
}

/** Items on one page: lines of JSON, or CSV records (a quoted cell may hold a line break), the header row left out. */
function itemsOf(format: Format, content: string, first: boolean): number {
  let records = 0;
  if (format === 'csv') {
    let quoted = false;
    for (let i = 0; i < content.length; i++) {
      const c = content[i];
      if (c === '"') quoted = !quoted;
      else if (c === '\n' && !quoted) records++;
    }
  } else {
    for (let i = content.indexOf('\n'); i !== -1; i = content.indexOf('\n', i + 1)) records++;
  }
  return Math.max(0, records - (first && (format === 'csv' || format === 'bundle') ? 1 : 0));
}

const count = (n: number, [one, many]: [string, string]) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
const size = (bytes: number) => (bytes < 1024 ? `${bytes} bytes` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} kB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`);

/**
 * Downloads an export of the ledger for a repository admin: `exportEvidence` page by page (each at most
 * 100 ledger entries) following the cursor, the pages joined as the server writes them (header on the
 * first page only), then saved from a Blob by an `<a download>` (Forge's Custom UI iframe has
 * `allow-downloads`). The link stays on the page in case the browser did not save it at once.
 */
export function ExportPanel({ filters, canExport, newest }: { filters: Filters; canExport: boolean; newest: number }) {
  const [format, setFormat] = useState<Format>('bundle');
  const [job, setJob] = useState<Job>({ kind: 'idle' });
  const run = useRef(0);
  const link = useRef<HTMLAnchorElement>(null);
  const url = job.kind === 'done' ? job.url : undefined;
  useEffect(() => {
    if (!url) return;
    link.current?.click();
    return () => URL.revokeObjectURL(url);
  }, [url]);
  useEffect(() => () => void ++run.current, []);

  if (!canExport) {
    return (
      <section className="stack export" aria-labelledby="export-title">
        <h2 id="export-title">Export</h2>
        <p data-testid="export-refused">Only repository admins can export Countersign evidence. Ask an admin of this repository for an export.</p>
      </section>
    );
  }

  const scope = exportScope(format, filters);
  const running = job.kind === 'running';

  async function start() {
    const mine = ++run.current;
    const { format } = scope;
    const parts: string[] = [];
    let cursor: string | undefined;
    let items = 0;
    let read = 0;
    let filename = '';
    let mediaType = 'application/octet-stream';
    setJob({ kind: 'running', format, read: 0, total: newest, items: 0 });
    do {
      const result = await call('exportEvidence', { ...scope, ...(cursor ? { cursor } : {}) });
      if (mine !== run.current) return;
      if (!result.ok) return setJob({ kind: 'failed', code: result.code, message: result.message });
      const page = result.data;
      if (cursor && page.progress.read <= read) {
        return setJob({ kind: 'failed', code: 'EXPORT_STALLED', message: 'The export stopped moving forward (a page read nothing new); start it again.' });
      }
      items += itemsOf(format, page.content, parts.length === 0);
      parts.push(page.content);
      ({ filename, mediaType } = page);
      read = page.progress.read;
      cursor = page.nextCursor;
      setJob({ kind: 'running', format, read, total: page.progress.total, items });
    } while (cursor);
    const blob = new Blob(parts, { type: mediaType });
    setJob({ kind: 'done', format, url: URL.createObjectURL(blob), filename, bytes: blob.size, items, total: read });
  }

  function cancel() {
    run.current++;
    setJob({ kind: 'idle', note: 'Export cancelled; nothing was saved.' });
  }

  const narrowed = [
    scope.pullRequest !== undefined && `pull request #${scope.pullRequest}`,
    filters.from && filters.to ? `${filters.from} to ${filters.to} (UTC)` : filters.from ? `from ${filters.from} (UTC)` : filters.to && `up to ${filters.to} (UTC)`,
  ].filter(Boolean);
  const ignored = [format === 'bundle' && (filters.pullRequest !== undefined || filters.from || filters.to) && 'pull request and date', filters.person && 'person', filters.type && 'event'].filter(Boolean);

  return (
    <section className="stack export" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <fieldset disabled={running}>
        <legend>Format</legend>
        {(Object.keys(FORMATS) as Format[]).map((value) => (
          <label key={value} className="choice">
            <input type="radio" name="export-format" value={value} checked={format === value} onChange={() => setFormat(value)} />
            <span>
              {FORMATS[value].label} <span className="subtle">— {FORMATS[value].hint}</span>
            </span>
          </label>
        ))}
      </fieldset>
      <p data-testid="export-scope">
        {format === 'bundle'
          ? `Exports the whole ledger (${count(newest, ['entry', 'entries'])} now): a bundle is checked as one chain from its first entry.`
          : `Exports ${format === 'csv' ? 'every ledger entry' : format === 'sigstore' ? 'every signed decision' : 'every merge'}${narrowed.length ? ` of ${narrowed.join(', ')}` : format === 'csv' ? '' : ' in the ledger'}.`}
        {ignored.length > 0 && ` The ${ignored.join(' and ')} ${ignored.length === 1 ? 'filter does' : 'filters do'} not apply to this export.`}
      </p>
      <div className="row">
        <button type="button" className="btn primary" disabled={running} onClick={() => void start()}>
          {running ? 'Exporting…' : 'Download'}
        </button>
        {running && (
          <button type="button" className="btn" onClick={cancel}>
            Cancel
          </button>
        )}
      </div>
      {running && <progress value={job.read} max={Math.max(job.total, 1)} aria-label="Export progress" />}
      <p role="status" aria-live="polite" data-testid="export-status">
        {job.kind === 'running' && `Exporting… ${job.read.toLocaleString('en-US')} of ${count(job.total, ['ledger entry', 'ledger entries'])} read, ${count(job.items, FORMATS[job.format].item)} so far.`}
        {job.kind === 'done' && (
          <>
            Exported {count(job.items, FORMATS[job.format].item)} ({size(job.bytes)}) from {count(job.total, ['ledger entry', 'ledger entries'])}. If your browser did not save it,{' '}
            <a ref={link} href={job.url} download={job.filename} data-testid="export-file">
              save {job.filename}
            </a>
            .
          </>
        )}
        {job.kind === 'idle' && job.note}
      </p>
      {job.kind === 'failed' && <ErrorBanner message={job.message} code={job.code} />}
    </section>
  );
}
