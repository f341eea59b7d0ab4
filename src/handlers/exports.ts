import * as z from 'zod/mini';
import {
  approvalBundleOf,
  bareUuid,
  checkedLedgerPage,
  csvCellsOf,
  csvRow,
  CSV_COLUMNS,
  decodeBase64url,
  encodeBase64url,
  evidenceEntryLine,
  evidenceHeaderLine,
  exportedEventOf,
  matchesFilter,
  mergeEntryOf,
  RequestError,
  signVerificationSummary,
  UtcTimestamp,
  verificationSummaryOf,
  type ExportFilter,
  type LedgerHead,
  type SkippedSummary,
} from '../core';
import type { Deps } from '../ports';
import { evidenceKeys } from './evidence';
import { callerOf, parsePayload } from './requests';

/** Ledger entries one export call reads at most: a page. The next page starts where the cursor says. */
export const EXPORT_PAGE_ENTRIES = 100;

const Format = z.enum(['bundle', 'sigstore', 'vsa', 'csv']);
export type ExportFormat = z.infer<typeof Format>;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
// 2026-13-01 would parse to no time at all, and a range with no time in it filters nothing.
const RealDay = z.string().check(
  z.regex(DAY),
  z.refine((day) => {
    const time = Date.parse(`${day}T00:00:00.000Z`);
    return !Number.isNaN(time) && new Date(time).toISOString().startsWith(day);
  }, 'must be a real date'),
);

/**
 * The bounds mean what the audit page's do: both inclusive, a day (`2026-11-22`, UTC) being the whole
 * day. So `from` a day is its first millisecond and `to` a day its last; an RFC 3339 UTC time is itself.
 */
const From = z.union([z.pipe(RealDay, z.transform((day: string) => `${day}T00:00:00.000Z`)), UtcTimestamp]);
const To = z.union([z.pipe(RealDay, z.transform((day: string) => `${day}T23:59:59.999Z`)), UtcTimestamp]);

const ExportPayload = z.strictObject({
  format: Format,
  pullRequest: z.optional(z.int().check(z.positive())),
  from: z.optional(From),
  to: z.optional(To),
  cursor: z.optional(z.string().check(z.maxLength(200))),
});

/**
 * What a cursor carries: the format it belongs to, the next seq to read, the head seq the export stops
 * at, and (for the formats derived from checked entries) the hash of the last entry the page before
 * checked, which the next page reads again and chains from.
 */
const Cursor = z.strictObject({
  v: z.literal(2),
  f: Format,
  n: z.int().check(z.positive()),
  e: z.int().check(z.nonnegative()),
  p: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/))),
});
type Cursor = z.infer<typeof Cursor>;

export interface ExportPage {
  content: string;
  filename: string;
  mediaType: string;
  /** Present while entries remain up to the head the export began at: pass it back for the next page. */
  nextCursor?: string;
  /** How far the export has read, by seq: through `read` of the `total` entries up to its head (for a progress bar). */
  progress: { read: number; total: number };
  /** `vsa` only: merges of this page that got no summary, each with why (an older record names no merge commit). */
  skipped?: SkippedSummary[];
}

const MEDIA_TYPES: Record<ExportFormat, string> = {
  bundle: 'application/jsonl',
  sigstore: 'application/jsonl',
  vsa: 'application/jsonl',
  csv: 'text/csv; charset=utf-8; header=present',
};
const EXTENSIONS: Record<ExportFormat, string> = { bundle: 'evidence.jsonl', sigstore: 'sigstore.jsonl', vsa: 'vsa.intoto.jsonl', csv: 'csv' };

function encodeCursor(cursor: Cursor): string {
  return encodeBase64url(new TextEncoder().encode(JSON.stringify(cursor)));
}

function decodeCursor(text: string, format: ExportFormat): Cursor {
  const bytes = decodeBase64url(text);
  let value: unknown;
  try {
    value = bytes && JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    value = undefined;
  }
  const parsed = Cursor.safeParse(value);
  const chained = format !== 'bundle';
  if (!parsed.success || parsed.data.f !== format || parsed.data.n > parsed.data.e + 1 || parsed.data.n < 2 || chained !== (parsed.data.p !== undefined)) {
    throw new RequestError('INVALID_INPUT', 'The export cursor is not one this export gave; start the export again without a cursor.');
  }
  return parsed.data;
}

/**
 * One page of an export of the caller's repository, for repository admins (as Bitbucket says when asked
 * as the caller, before anything is read). Each page reads at most `pageSize` ledger entries by seq;
 * the export stops at the head read on its first page, so entries written meanwhile wait for the next
 * export, and the pages concatenated are one file:
 * - `bundle`: the evidence bundle (header, with the signed key roster and the key entries of other
 *   ledgers, on the first page); the whole ledger, since it verifies as a chain. Entries go out exactly
 *   as stored, unchecked: the verifier says what is wrong with them.
 * - `sigstore`: one Sigstore bundle v0.3 a line, for every accepted decision.
 * - `vsa`: one app-signed DSSE envelope a line, the SLSA Verification Summary of every merge whose merge
 *   commit is on record (the others are listed in `skipped`).
 * - `csv`: one row an entry (the column names on the first page).
 * For sigstore, vsa and csv every entry of the page is first checked (`checkedLedgerPage`: app signature,
 * stored hash, sequence, chain link, to the page before too) and every entry exported from is read with
 * the verifier's event schemas: a page that does not check out is refused (LEDGER_BROKEN, MALFORMED_ENTRY)
 * rather than exported, so the app never signs a summary of entries it has not checked.
 * `pullRequest`, `from` and `to` (both inclusive, a day meaning the whole UTC day, as on the audit page)
 * keep only matching entries; a page may then hold nothing yet still have a `nextCursor`.
 */
export async function exportEvidence(deps: Deps, payload: unknown, context: unknown, options: { pageSize?: number } = {}): Promise<ExportPage> {
  const caller = callerOf(context);
  const request = parsePayload(ExportPayload, payload);
  const permission = await deps.bitbucket.getMyPermission(caller.workspace, caller.repository);
  if (permission !== 'admin') {
    throw new RequestError('FORBIDDEN', 'Only repository admins can export Countersign evidence; ask an admin of this repository.');
  }
  const filter: ExportFilter = { pullRequest: request.pullRequest, from: request.from, to: request.to };
  const filtered = request.pullRequest !== undefined || request.from !== undefined || request.to !== undefined;
  if (request.format === 'bundle' && filtered) {
    throw new RequestError(
      'INVALID_INPUT',
      'An evidence bundle is the whole ledger, because it is checked as one chain from its first entry; export it without a pull request or dates, or choose sigstore, vsa or csv to narrow.',
    );
  }
  if (request.from !== undefined && request.to !== undefined && Date.parse(request.from) > Date.parse(request.to)) {
    throw new RequestError('INVALID_INPUT', 'The export range ends before it begins; choose a "to" no earlier than "from".');
  }
  const pageSize = options.pageSize ?? EXPORT_PAGE_ENTRIES;
  const cursor = request.cursor === undefined ? undefined : decodeCursor(request.cursor, request.format);
  const fromSeq = cursor?.n ?? 1;
  const count = cursor ? Math.min(pageSize, cursor.e - fromSeq + 1) : pageSize;
  const checking = request.format !== 'bundle';
  // A later page of a checked export also reads the entry the page before ended with, to chain from it.
  const after = checking && cursor?.p !== undefined ? { seq: fromSeq - 1, hash: cursor.p } : undefined;

  const [{ head, entries }, appKey] = await Promise.all([
    count > 0 ? deps.ledger.readLedgerRange(caller.repository, after ? after.seq : fromSeq, count + (after ? 1 : 0)) : { head: undefined, entries: [] },
    deps.ledger.appPublicKey(),
  ]);
  const endSeq = cursor?.e ?? head?.seq ?? 0;
  const stopHead: LedgerHead | null = cursor ? null : head ?? null;
  const lastSeq = Math.min(endSeq, fromSeq + count - 1);
  const progress = { read: Math.max(0, lastSeq), total: endSeq };

  if (request.format === 'bundle') {
    const lines: string[] = [];
    if (!cursor) {
      // The roster is read after the head, so every key used up to the head is in it.
      const exportedAt = deps.now().toISOString();
      const keys = await evidenceKeys(deps.ledger, caller.repository, stopHead, exportedAt);
      lines.push(evidenceHeaderLine({ ledger: caller.repository, exportedAt, head: stopHead, appKeys: [appKey], keys }));
    }
    // Entries as stored, unreadable ones too: the verifier, not the export, says what is wrong with them.
    for (const signed of entries.slice(0, Math.max(0, lastSeq - fromSeq + 1))) lines.push(evidenceEntryLine(signed));
    const nextCursor = lastSeq < endSeq ? encodeCursor({ v: 2, f: request.format, n: lastSeq + 1, e: endSeq }) : undefined;
    return page(caller.repository, request.format, filter, lines.map((line) => `${line}\n`).join(''), nextCursor, progress);
  }

  const checked = await checkedLedgerPage(entries, {
    ledger: caller.repository,
    appKeys: new Map([[appKey.keyId, appKey.publicJwk]]),
    fromSeq,
    toSeq: lastSeq,
    ...(after ? { after } : {}),
    ...(head ? { head } : {}),
  });
  const last = checked.at(-1);
  const nextCursor = lastSeq < endSeq && last ? encodeCursor({ v: 2, f: request.format, n: lastSeq + 1, e: endSeq, p: last.hash }) : undefined;
  const kept = checked.filter(({ entry }) => matchesFilter(entry, filter)).map((c) => ({ ...c, event: exportedEventOf(c.entry) }));

  switch (request.format) {
    case 'csv': {
      const rows = kept.map(({ entry, hash, event }) => csvRow(csvCellsOf(entry, hash, event))).join('');
      return page(caller.repository, request.format, filter, (cursor ? '' : csvRow(CSV_COLUMNS)) + rows, nextCursor, progress);
    }
    case 'sigstore': {
      const lines = kept.flatMap(({ event }) => {
        const bundle = approvalBundleOf(event);
        return bundle ? [`${JSON.stringify(bundle)}\n`] : [];
      });
      return page(caller.repository, request.format, filter, lines.join(''), nextCursor, progress);
    }
    case 'vsa': {
      const summaries = kept.flatMap(({ entry, hash, event }) => {
        const merge = mergeEntryOf(entry, hash, event);
        return merge ? [verificationSummaryOf(merge)] : [];
      });
      const skipped = summaries.flatMap((s) => ('skipped' in s ? [s.skipped] : []));
      const toSign = summaries.flatMap((s) => ('summary' in s ? [s.summary] : []));
      const lines: string[] = [];
      if (toSign.length > 0) {
        const key = await deps.ledger.appSigningKey();
        for (const summary of toSign) lines.push(`${JSON.stringify(await signVerificationSummary(summary, key))}\n`);
      }
      return { ...page(caller.repository, request.format, filter, lines.join(''), nextCursor, progress), ...(skipped.length > 0 ? { skipped } : {}) };
    }
  }
}

function page(repository: string, format: ExportFormat, filter: ExportFilter, content: string, nextCursor: string | undefined, progress: ExportPage['progress']): ExportPage {
  return { content, filename: filenameOf(repository, format, filter), mediaType: MEDIA_TYPES[format], ...(nextCursor ? { nextCursor } : {}), progress };
}

function filenameOf(repository: string, format: ExportFormat, filter: ExportFilter): string {
  const parts = ['countersign', bareUuid(repository).slice(0, 8)];
  if (filter.pullRequest !== undefined) parts.push(`pr-${filter.pullRequest}`);
  if (filter.from !== undefined) parts.push(`from-${filter.from.slice(0, 10)}`);
  if (filter.to !== undefined) parts.push(`to-${filter.to.slice(0, 10)}`);
  return `${parts.join('-')}.${EXTENSIONS[format]}`;
}
