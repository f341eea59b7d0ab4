import * as z from 'zod/mini';
import {
  approvalBundleOf,
  bareUuid,
  csvCellsOf,
  csvRow,
  CSV_COLUMNS,
  decodeBase64url,
  encodeBase64url,
  evidenceEntryLine,
  evidenceHeaderLine,
  matchesFilter,
  mergeEntryOf,
  readEntry,
  RequestError,
  signVerificationSummary,
  UtcTimestamp,
  verificationSummaryOf,
  type ExportFilter,
  type LedgerHead,
} from '../core';
import type { Deps } from '../ports';
import { callerOf, parsePayload } from './requests';

/** Ledger entries one export call reads at most: a page. The next page starts where the cursor says. */
export const EXPORT_PAGE_ENTRIES = 100;

const Format = z.enum(['bundle', 'sigstore', 'vsa', 'csv']);
export type ExportFormat = z.infer<typeof Format>;

/** A day (`2026-11-22`, midnight UTC) or an RFC 3339 UTC time. */
const Bound = z.union([
  z.pipe(
    z.string().check(
      z.regex(/^\d{4}-\d{2}-\d{2}$/),
      // 2026-13-01 would parse to no time at all, and a range with no time in it filters nothing.
      z.refine((day) => {
        const time = Date.parse(`${day}T00:00:00.000Z`);
        return !Number.isNaN(time) && new Date(time).toISOString().startsWith(day);
      }, 'must be a real date'),
    ),
    z.transform((day: string) => `${day}T00:00:00.000Z`),
  ),
  UtcTimestamp,
]);

const ExportPayload = z.strictObject({
  format: Format,
  pullRequest: z.optional(z.int().check(z.positive())),
  from: z.optional(Bound),
  to: z.optional(Bound),
  cursor: z.optional(z.string().check(z.maxLength(200))),
});

/** What a cursor carries: the format it belongs to, the next seq to read and the head seq the export stops at. */
const Cursor = z.strictObject({ v: z.literal(1), f: Format, n: z.int().check(z.positive()), e: z.int().check(z.nonnegative()) });
type Cursor = z.infer<typeof Cursor>;

export interface ExportPage {
  content: string;
  filename: string;
  mediaType: string;
  /** Present while entries remain up to the head the export began at: pass it back for the next page. */
  nextCursor?: string;
  /** How far the export has read, by seq: through `read` of the `total` entries up to its head (for a progress bar). */
  progress: { read: number; total: number };
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
  if (!parsed.success || parsed.data.f !== format || parsed.data.n > parsed.data.e + 1) {
    throw new RequestError('INVALID_INPUT', 'The export cursor is not one this export gave; start the export again without a cursor.');
  }
  return parsed.data;
}

/**
 * One page of an export of the caller's repository, for repository admins (as Bitbucket says when asked
 * as the caller, before anything is read). Each page reads at most `pageSize` ledger entries by seq;
 * the export stops at the head read on its first page, so entries written meanwhile wait for the next
 * export, and the pages concatenated are one file:
 * - `bundle`: the evidence bundle (header on the first page); the whole ledger, since it verifies as a chain.
 * - `sigstore`: one Sigstore bundle v0.3 a line, for every accepted decision.
 * - `vsa`: one app-signed DSSE envelope a line, the SLSA Verification Summary of every merge.
 * - `csv`: one row an entry (the column names on the first page).
 * `pullRequest`, `from` (inclusive) and `to` (exclusive) keep only matching entries; a page may then
 * hold nothing yet still have a `nextCursor`.
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
  if (request.from !== undefined && request.to !== undefined && Date.parse(request.from) >= Date.parse(request.to)) {
    throw new RequestError('INVALID_INPUT', 'The export range ends before it begins; choose a "to" later than "from".');
  }
  const pageSize = options.pageSize ?? EXPORT_PAGE_ENTRIES;
  const cursor = request.cursor === undefined ? undefined : decodeCursor(request.cursor, request.format);
  const fromSeq = cursor?.n ?? 1;
  const count = cursor ? Math.min(pageSize, cursor.e - fromSeq + 1) : pageSize;

  const { head, entries } = count > 0 ? await deps.ledger.readLedgerRange(caller.repository, fromSeq, count) : { head: undefined, entries: [] };
  const endSeq = cursor?.e ?? head?.seq ?? 0;
  const stopHead: LedgerHead | null = cursor ? null : head ?? null;
  const read = entries.flatMap((signed) => {
    const entry = readEntry(signed);
    // A page never reads past the head its export began at.
    return entry && entry.seq <= endSeq ? [{ signed, entry }] : [];
  });
  const lastSeq = Math.min(endSeq, fromSeq + count - 1);
  const nextCursor = lastSeq < endSeq ? encodeCursor({ v: 1, f: request.format, n: lastSeq + 1, e: endSeq }) : undefined;
  const kept = read.filter(({ entry }) => matchesFilter(entry, filter));

  const lines: string[] = [];
  switch (request.format) {
    case 'bundle': {
      if (!cursor) lines.push(evidenceHeaderLine({ ledger: caller.repository, exportedAt: deps.now().toISOString(), head: stopHead, appKeys: [await deps.ledger.appPublicKey()] }));
      // Entries as stored, unreadable ones too: the verifier, not the export, says what is wrong with them.
      for (const signed of entries.slice(0, Math.max(0, lastSeq - fromSeq + 1))) lines.push(evidenceEntryLine(signed));
      break;
    }
    case 'sigstore':
      for (const { entry } of kept) {
        const bundle = approvalBundleOf(entry.event);
        if (bundle) lines.push(JSON.stringify(bundle));
      }
      break;
    case 'vsa': {
      const merges = kept.flatMap(({ signed, entry }) => {
        const merge = mergeEntryOf(entry, signed.hash);
        return merge ? [merge] : [];
      });
      if (merges.length > 0) {
        const key = await deps.ledger.appSigningKey();
        for (const merge of merges) lines.push(JSON.stringify(await signVerificationSummary(verificationSummaryOf(merge), key)));
      }
      break;
    }
    case 'csv':
      break;
  }

  const content =
    request.format === 'csv'
      ? (cursor ? '' : csvRow(CSV_COLUMNS)) + kept.map(({ signed, entry }) => csvRow(csvCellsOf(entry, signed.hash))).join('')
      : lines.map((line) => `${line}\n`).join('');
  return {
    content,
    filename: filenameOf(caller.repository, request.format, filter),
    mediaType: MEDIA_TYPES[request.format],
    ...(nextCursor ? { nextCursor } : {}),
    progress: { read: Math.max(0, lastSeq), total: endSeq },
  };
}

function filenameOf(repository: string, format: ExportFormat, filter: ExportFilter): string {
  const parts = ['countersign', bareUuid(repository).slice(0, 8)];
  if (filter.pullRequest !== undefined) parts.push(`pr-${filter.pullRequest}`);
  if (filter.from !== undefined) parts.push(`from-${filter.from.slice(0, 10)}`);
  // `to` is exclusive: the name says the last day it includes (a `to` of midnight includes none of its day).
  if (filter.to !== undefined) parts.push(`to-${new Date(Date.parse(filter.to) - 1).toISOString().slice(0, 10)}`);
  return `${parts.join('-')}.${EXTENSIONS[format]}`;
}
