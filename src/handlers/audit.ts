import * as z from 'zod/mini';
import { auditFacts, auditOrder, decodeBase64, orderCeiling, orderFloor, readEntry, RequestError, type AuditFacts, type Envelope, type SignedLedgerEntry } from '../core';
import type { AuditHit, AuditTerm, Deps } from '../ports';
import { callerOf, parsePayload } from './requests';

/** Entries on one page of the audit list without filters. */
export const AUDIT_PAGE_SIZE = 25;
/** Entries on one filtered page: they and the ledger head are one KVS batch (25 keys). */
export const AUDIT_FILTERED_PAGE_SIZE = 24;
/**
 * Entries one call reads at most, one by one, where the audit indexes cannot answer: entries written
 * before the indexes existed. 8 KVS batches of 25, sent at once (one round trip).
 */
export const AUDIT_SCAN_LIMIT = 200;
/**
 * Index records one filtered call considers when a second filter is checked on them (a person and a
 * type, say): one Custom Entity Store query page, the most it returns.
 */
export const AUDIT_CANDIDATES = 100;
/**
 * Entries written before the indexes took their time before the retry that wrote them, so a racing
 * writer could put seq N + 1 a little before seq N: a scan of them reads this far past "from".
 */
const UNORDERED_MS = 10 * 60_000;

export const AUDIT_EVENT_TYPES = [
  'decision.accepted',
  'key.enrolled',
  'key.renamed',
  'key.revoked',
  'policy.saved',
  'merge.recorded',
  'merge.bypassed',
  'automerge.attempted',
  'automerge.failed',
  'deployment.requested',
  'deployment.decision.accepted',
  'deployment.allowed',
  'deployment.reported',
] as const;

const Day = z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD'), z.refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), 'must be a real date'));

const AuditPayload = z.strictObject({
  cursor: z.optional(z.string().check(z.regex(/^(s|i\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#)[1-9]\d{0,9}$/, 'must be a cursor this page was given'))),
  pullRequest: z.optional(z.int().check(z.positive(), z.lte(2 ** 31))),
  person: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  type: z.optional(z.enum(AUDIT_EVENT_TYPES)),
  from: z.optional(Day),
  to: z.optional(Day),
});
type AuditFilters = Omit<z.infer<typeof AuditPayload>, 'cursor'>;

/** One ledger entry, in readable fields (its `AuditFacts`), with everything it holds. */
export interface AuditEntry extends AuditFacts {
  seq: number;
  at: string | null;
  /** The entry's hash, and the hash of the one before it (the chain). */
  hash: string;
  prev: string | null;
  /** The event as recorded; null when the entry could not be read. */
  event: unknown;
  /** For a decision: the statement the approver signed, decoded from their envelope. */
  statement: unknown;
  /** The app's signed envelope of the entry. */
  envelope: Envelope;
}

export interface AuditPage {
  /** The workspace (braced UUID), for looking up display names as the viewer. */
  workspace: string;
  entries: AuditEntry[];
  /** Pass back as `cursor` for the next (older) page; null at the beginning of the ledger. */
  nextCursor: string | null;
  /** The oldest seq this call looked at (every entry from the first page's top down to it was searched); null if none. */
  searchedTo: number | null;
  /** The newest seq the search started from. */
  top: number;
  /** Whether a filter was applied (entries were searched, not just listed). */
  filtered: boolean;
  /** Whether the viewer is a repository admin, as Bitbucket said for this call: only admins may call `exportEvidence`. */
  canExport: boolean;
  /**
   * The seqs this call read one by one (newest first, `from` down to `to`) because they were written
   * before the audit indexes existed, at most AUDIT_SCAN_LIMIT a call; null when the indexes answered alone.
   */
  scanned: { from: number; to: number } | null;
}

/**
 * The repository's ledger, newest first, for anyone who can read the repository (asked of Bitbucket as
 * the caller). Unfiltered, a page is the head and one KVS batch of 25 entries (a next page, the batch
 * alone). Filtered, a page is one query of the most selective audit index (person, else pull request,
 * else type, else the whole ledger; the dates bound it) and one batch of the entries it found with the
 * head; other filters are checked on the index records. Entries older than the indexes are searched
 * AUDIT_SCAN_LIMIT at a time, and the page says so. No call's cost grows with the ledger.
 */
export async function getAuditPage(deps: Deps, payload: unknown, context: unknown): Promise<AuditPage> {
  const caller = callerOf(context);
  const { cursor, ...filters } = parsePayload(AuditPayload, payload ?? {});
  const filtered = Object.values(filters).some((v) => v !== undefined);
  if (filters.from && filters.to && filters.from > filters.to) {
    throw new RequestError('INVALID_INPUT', `The date range is empty: "from" (${filters.from}) is after "to" (${filters.to}); swap them.`);
  }
  const position = cursor ? parseCursor(cursor) : undefined;
  // Bitbucket first: storage is not touched for a repository the caller cannot see.
  const permission = await deps.bitbucket.getMyPermission(caller.workspace, caller.repository);
  if (permission === 'none') {
    throw new RequestError('FORBIDDEN', 'You have no access to this repository in Bitbucket, so its Countersign audit log is not shown; ask an admin for read access.');
  }
  const page = !filtered
    ? await listed(deps, caller.repository, position && (position.kind === 'scan' ? position.seq : position.seq - 1))
    : position?.kind === 'scan'
      ? await scanned(deps, caller.repository, position.seq, filters, AUDIT_FILTERED_PAGE_SIZE, position.seq)
      : await searched(deps, caller.repository, filters, position);
  return { workspace: caller.workspace, filtered, canExport: permission === 'admin', ...page };
}

type Position = { kind: 'scan'; seq: number } | { kind: 'index'; at: string; seq: number };
type PageBody = Omit<AuditPage, 'workspace' | 'filtered' | 'canExport'>;

/** `s<seq>`: read on from seq down; `i<time>#<seq>`: continue an index below the entry at that time and seq. */
function parseCursor(cursor: string): Position {
  if (cursor.startsWith('s')) return { kind: 'scan', seq: Number(cursor.slice(1)) };
  const [at, seq] = cursor.slice(1).split('#') as [string, string];
  return { kind: 'index', at, seq: Number(seq) };
}

/** The ledger as it is, 25 entries from `top` down (from the head when not given). */
async function listed(deps: Deps, repository: string, top: number | undefined): Promise<PageBody> {
  const read = await deps.ledger.readLedgerPage(repository, { top, count: AUDIT_PAGE_SIZE });
  const entries = read.entries.map(({ seq, entry }) => describeEntry(seq, entry));
  const next = read.top - Math.min(AUDIT_PAGE_SIZE, read.top);
  return { entries, nextCursor: next > 0 ? `s${next}` : null, searchedTo: next + 1 <= read.top ? next + 1 : null, top: read.top, scanned: null };
}

/** The index a filtered page reads: the most selective filter given. */
function primaryTerm(filters: AuditFilters): AuditTerm {
  if (filters.person !== undefined) return { kind: 'person', accountId: filters.person };
  if (filters.pullRequest !== undefined) return { kind: 'pullRequest', pullRequest: filters.pullRequest };
  if (filters.type !== undefined) return { kind: 'type', type: filters.type };
  return { kind: 'all' };
}

/** A filtered page from the audit indexes, then (once they are exhausted) from entries older than them. */
async function searched(deps: Deps, repository: string, filters: AuditFilters, position: Extract<Position, { kind: 'index' }> | undefined): Promise<PageBody> {
  const term = primaryTerm(filters);
  // The filters the index does not answer, checked on its records.
  const rest = (hit: AuditHit) =>
    (filters.type === undefined || term.kind === 'type' || hit.type === filters.type) &&
    (filters.pullRequest === undefined || term.kind === 'pullRequest' || hit.pullRequest === filters.pullRequest);
  const checked = term.kind !== 'all' && ((filters.type !== undefined && term.kind !== 'type') || (filters.pullRequest !== undefined && term.kind !== 'pullRequest'));
  const low = filters.from ? orderFloor(`${filters.from}T00:00:00.000Z`) : undefined;
  // Below the cursor's entry: same time and a lower seq, or an earlier time.
  const highs = [filters.to ? orderCeiling(`${filters.to}T23:59:59.999Z`) : undefined, position ? auditOrder(position.at, position.seq - 1) : undefined].filter((h): h is string => h !== undefined);
  const high = highs.length ? highs.reduce((a, b) => (a < b ? a : b)) : undefined;
  const empty = low !== undefined && high !== undefined && low > high;

  const found = empty ? { hits: [], more: false } : await deps.ledger.queryAuditIndex(repository, { term, low, high, limit: checked ? AUDIT_CANDIDATES : AUDIT_FILTERED_PAGE_SIZE });
  let take = found.hits.filter(rest);
  // Where this call's search stops: the last order looked at, or nothing when the index is exhausted.
  let reach: string | undefined;
  if (take.length >= AUDIT_FILTERED_PAGE_SIZE) {
    take = take.slice(0, AUDIT_FILTERED_PAGE_SIZE);
    reach = take.at(-1)!.order;
  } else if (found.more && found.hits.length > 0) {
    reach = found.hits.at(-1)!.order;
  }
  let read = await deps.ledger.readAuditEntries(repository, take.map((h) => h.seq));
  const entries = new Map(read.entries.map(({ seq, entry }) => [seq, entry]));

  // People an entry had no room to index are listed on its spill record: read those in this window too.
  if (term.kind === 'person' && !empty && (read.indexes?.spills ?? 0) > 0) {
    const spills = await deps.ledger.queryAuditIndex(repository, { term: { kind: 'spill' }, low: reach ?? low, high, limit: AUDIT_CANDIDATES });
    if (spills.more) {
      // More spilled entries in the window than one query returns: the window ends at the last one read.
      reach = spills.hits.at(-1)!.order;
      take = take.filter((h) => h.order >= reach!);
    }
    const named = spills.hits.filter((h) => h.spilled?.includes(term.accountId) && rest(h));
    take = [...take, ...named].sort((a, b) => (a.order < b.order ? 1 : -1));
    if (take.length > AUDIT_FILTERED_PAGE_SIZE) {
      take = take.slice(0, AUDIT_FILTERED_PAGE_SIZE);
      reach = take.at(-1)!.order;
    }
    const missing = take.filter((h) => !entries.has(h.seq)).map((h) => h.seq);
    if (missing.length) {
      read = { ...read, ...(await deps.ledger.readAuditEntries(repository, missing)) };
      for (const { seq, entry } of read.entries) entries.set(seq, entry);
    }
  }

  const top = read.head?.seq ?? 0;
  const shown = take.flatMap((h) => {
    const entry = entries.get(h.seq);
    return entry ? [describeEntry(h.seq, entry)] : [];
  });
  if (reach !== undefined) {
    const [at, seq] = reach.split('#') as [string, string];
    return { entries: shown, nextCursor: `i${at}#${Number(seq)}`, searchedTo: Number(seq), top, scanned: null };
  }
  // The index is exhausted: entries before the first indexed one (all of them, on a ledger not written
  // since the indexes came) are searched one by one, in what is left of this page.
  const indexedFrom = read.indexes?.from ?? top + 1;
  if (indexedFrom > 1 && shown.length < AUDIT_FILTERED_PAGE_SIZE) {
    const older = await scanned(deps, repository, indexedFrom - 1, filters, AUDIT_FILTERED_PAGE_SIZE - shown.length, top);
    return { ...older, entries: [...shown, ...older.entries] };
  }
  return { entries: shown, nextCursor: null, searchedTo: indexedFrom > 1 ? indexedFrom : 1, top, scanned: null };
}

/**
 * Entries from seq `from` down, read one by one (at most AUDIT_SCAN_LIMIT), matched against every
 * filter: the entries written before the indexes. Up to `room` matches.
 */
async function scanned(deps: Deps, repository: string, from: number, filters: AuditFilters, room: number, top: number): Promise<PageBody> {
  const read = await deps.ledger.readLedgerPage(repository, { top: from, count: AUDIT_SCAN_LIMIT });
  const fromMs = filters.from ? Date.parse(`${filters.from}T00:00:00.000Z`) : undefined;
  const entries: AuditEntry[] = [];
  let next = read.top - Math.min(AUDIT_SCAN_LIMIT, read.top);
  let searchedTo = next + 1 <= read.top ? next + 1 : null;
  for (const { seq, entry } of read.entries) {
    const shown = describeEntry(seq, entry);
    // Nothing well before `from` can be followed by a match (these entries may be out of order by a little).
    if (fromMs !== undefined && shown.at !== null && Date.parse(shown.at) < fromMs - UNORDERED_MS) {
      next = 0;
      searchedTo = seq;
      break;
    }
    if (matches(shown, filters)) entries.push(shown);
    if (entries.length === room) {
      next = seq - 1;
      searchedTo = seq;
      break;
    }
  }
  const scannedTo = searchedTo ?? from;
  return { entries, nextCursor: next > 0 ? `s${next}` : null, searchedTo, top, scanned: read.top > 0 ? { from: read.top, to: scannedTo } : null };
}

function matches(entry: AuditEntry, filters: AuditFilters): boolean {
  if (filters.type && entry.type !== filters.type) return false;
  if (filters.pullRequest !== undefined && entry.pullRequest !== filters.pullRequest) return false;
  if (filters.person && !entry.people.includes(filters.person)) return false;
  if (filters.from && (entry.at === null || entry.at < `${filters.from}T00:00:00.000Z`)) return false;
  if (filters.to && (entry.at === null || entry.at > `${filters.to}T23:59:59.999Z`)) return false;
  return true;
}

/** An entry's readable fields; an entry that cannot be read is shown as such, never dropped. */
export function describeEntry(seq: number, signed: SignedLedgerEntry): AuditEntry {
  const read = readEntry(signed);
  const base: AuditEntry = {
    seq,
    at: read?.at ?? null,
    type: 'unreadable',
    who: null,
    people: [],
    pullRequest: null,
    commit: null,
    decision: null,
    keyId: null,
    policyVersion: null,
    hash: signed?.hash ?? '',
    prev: read?.prev ?? null,
    event: read?.event ?? null,
    statement: null,
    envelope: signed?.envelope,
  };
  if (!read) return base;
  const facts = auditFacts(read.event);
  const event = read.event as unknown as { type?: string; envelope?: Envelope };
  return { ...base, ...facts, statement: event.type === 'decision.accepted' || event.type === 'deployment.decision.accepted' ? decodeStatement(event.envelope) : null };
}

/** The approver's signed statement, as the JSON their envelope carries; null if it does not decode. */
function decodeStatement(envelope: Envelope | undefined): unknown {
  const bytes = typeof envelope?.payload === 'string' ? decodeBase64(envelope.payload) : undefined;
  if (!bytes) return null;
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
}

