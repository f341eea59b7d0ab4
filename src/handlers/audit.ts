import * as z from 'zod/mini';
import { decodeBase64, readEntry, RequestError, type Envelope, type LedgerEventOf, type SignedLedgerEntry } from '../core';
import type { Deps } from '../ports';
import { callerOf, parsePayload } from './requests';

/** Entries on one page of the audit list. */
export const AUDIT_PAGE_SIZE = 25;
/**
 * Entries one filtered call reads at most: 8 KVS batches of 25, sent at once (one round trip). A filter
 * that matches rarely returns fewer than a page and a cursor to search further back.
 */
export const AUDIT_SCAN_LIMIT = 200;

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
] as const;

const Day = z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD'), z.refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), 'must be a real date'));

const AuditPayload = z.strictObject({
  cursor: z.optional(z.string().check(z.regex(/^s[1-9]\d{0,9}$/, 'must be a cursor this page was given'))),
  pullRequest: z.optional(z.int().check(z.positive(), z.lte(2 ** 31))),
  person: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  type: z.optional(z.enum(AUDIT_EVENT_TYPES)),
  from: z.optional(Day),
  to: z.optional(Day),
});
type AuditFilters = Omit<z.infer<typeof AuditPayload>, 'cursor'>;

/** One ledger entry, in readable fields, with everything it holds. */
export interface AuditEntry {
  seq: number;
  at: string | null;
  type: string;
  /** The account that acted, when one did (Countersign's own merges and auto-merge outcomes have none). */
  who: string | null;
  /** Every account the entry names (who acted, whose key, who was counted). */
  people: string[];
  pullRequest: number | null;
  commit: string | null;
  decision: 'approve' | 'reject' | null;
  keyId: string | null;
  policyVersion: number | null;
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
}

/**
 * The repository's ledger, newest first, for anyone who can read the repository (asked of Bitbucket as
 * the caller). Unfiltered, a page is the head and one KVS batch of 25 entries (a next page, the batch
 * alone). Filtered, a call reads up to AUDIT_SCAN_LIMIT entries at once and returns the matches with a
 * cursor to continue, so no call's cost grows with the ledger.
 */
export async function getAuditPage(deps: Deps, payload: unknown, context: unknown): Promise<AuditPage> {
  const caller = callerOf(context);
  const { cursor, ...filters } = parsePayload(AuditPayload, payload ?? {});
  const filtered = Object.values(filters).some((v) => v !== undefined);
  if (filters.from && filters.to && filters.from > filters.to) {
    throw new RequestError('INVALID_INPUT', `The date range is empty: "from" (${filters.from}) is after "to" (${filters.to}); swap them.`);
  }
  const top = cursor ? Number(cursor.slice(1)) : undefined;
  const count = filtered ? AUDIT_SCAN_LIMIT : AUDIT_PAGE_SIZE;
  // Bitbucket first: storage is not touched for a repository the caller cannot see.
  const permission = await deps.bitbucket.getMyPermission(caller.workspace, caller.repository);
  if (permission === 'none') {
    throw new RequestError('FORBIDDEN', 'You have no access to this repository in Bitbucket, so its Countersign audit log is not shown; ask an admin for read access.');
  }
  const read = await deps.ledger.readLedgerPage(caller.repository, { top, count });
  const fromAt = filters.from ? `${filters.from}T00:00:00.000Z` : undefined;
  const toAt = filters.to ? `${filters.to}T23:59:59.999Z` : undefined;
  const entries: AuditEntry[] = [];
  // Below the window read, unless the page fills first or the dates run out.
  let next = read.top - Math.min(count, read.top);
  let searchedTo = next + 1 <= read.top ? next + 1 : null;
  for (const { seq, entry } of read.entries) {
    const shown = describeEntry(seq, entry);
    // The ledger is written in time order: once before `from`, nothing older can match.
    if (fromAt && shown.at !== null && shown.at < fromAt) {
      next = 0;
      searchedTo = seq;
      break;
    }
    if (matches(shown, filters, toAt)) entries.push(shown);
    if (entries.length === AUDIT_PAGE_SIZE) {
      next = seq - 1;
      searchedTo = seq;
      break;
    }
  }
  return { workspace: caller.workspace, entries, nextCursor: next > 0 ? `s${next}` : null, searchedTo, top: read.top, filtered, canExport: permission === 'admin' };
}

function matches(entry: AuditEntry, filters: AuditFilters, toAt: string | undefined): boolean {
  if (filters.type && entry.type !== filters.type) return false;
  if (filters.pullRequest !== undefined && entry.pullRequest !== filters.pullRequest) return false;
  if (filters.person && !entry.people.includes(filters.person)) return false;
  if (toAt && (entry.at === null || entry.at > toAt)) return false;
  if (filters.from && entry.at === null) return false;
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
  const event = read.event as unknown as LedgerEventOf;
  const shown = { ...base, type: event.type };
  switch (event.type) {
    case 'decision.accepted':
      return {
        ...shown,
        who: event.signer,
        people: [event.signer],
        pullRequest: event.subject.pullRequest,
        commit: event.subject.commit,
        decision: event.decision,
        keyId: event.keyId,
        statement: decodeStatement(event.envelope),
      };
    case 'key.enrolled':
    case 'key.renamed':
      return { ...shown, who: event.accountId, people: [event.accountId], keyId: event.keyId };
    case 'key.revoked':
      return { ...shown, who: event.revokedBy, people: unique([event.revokedBy, event.accountId]), keyId: event.keyId };
    case 'policy.saved':
      return { ...shown, who: event.savedBy, people: [event.savedBy], policyVersion: event.policy?.version ?? null };
    case 'merge.recorded':
    case 'merge.bypassed':
      return {
        ...shown,
        people: unique([event.facts?.author, ...(event.counted ?? []).map((c) => c.signer)].filter((p): p is string => typeof p === 'string')),
        pullRequest: event.subject?.pullRequest ?? null,
        commit: event.subject?.commit ?? event.facts?.headCommit ?? null,
        policyVersion: event.verdict?.policy?.version ?? null,
      };
    case 'automerge.attempted':
    case 'automerge.failed':
      return { ...shown, pullRequest: event.subject.pullRequest, commit: event.subject.commit };
    default:
      return shown;
  }
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

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}
