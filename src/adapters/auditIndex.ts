import { auditOrder, bareUuid, RequestError, type AuditFacts } from '../core';
import type { AuditTerm } from '../ports';

/**
 * The audit page's indexes, in the Custom Entity Store: for every ledger entry, one small record per
 * term it can be found by (the whole ledger, its event type, its pull request, each person it names),
 * written in the same KVS transaction as the entry, so no index can disagree with the ledger. One
 * index (`by-term`) partitions them by term and orders them by `order` = the entry's time and seq, so
 * a page is one query, newest first (sort DESC), bounded by a date window and a cursor; the page's
 * entries are then one batch read.
 */
export const AUDIT_INDEX_ENTITY = 'audit-index';
export const AUDIT_INDEX = 'by-term';

/** The most operations one KVS transaction may hold (Forge: "Each transaction can contain a maximum of 25 operations"). */
export const MAX_TRANSACTION_OPS = 25;

/** One index record. `facets` lets a page filter by type and pull request without reading the entry. */
export interface AuditIndexRecord {
  term: string;
  order: string;
  seq: number;
  facets: { type: string; pr: number | null; spilled?: string[] };
}

/**
 * What the ledger head keeps about the indexes (beside the head, in the same record): the first seq
 * written with indexes (entries before it predate them), the last entry's time (no entry is written
 * earlier than the one before it), and the entries whose people did not all fit in their transaction.
 */
export interface AuditMeta {
  from: number;
  at: string;
  spills: number;
  lastSpill: number;
}

export function isAuditMeta(value: unknown): value is AuditMeta {
  const meta = value as AuditMeta | undefined;
  return (
    typeof meta === 'object' && meta !== null &&
    Number.isSafeInteger(meta.from) && meta.from >= 1 &&
    typeof meta.at === 'string' &&
    Number.isSafeInteger(meta.spills) && meta.spills >= 0 &&
    Number.isSafeInteger(meta.lastSpill) && meta.lastSpill >= 0
  );
}

/** The partition a term's records are kept under. */
export function termKey(repository: string, term: AuditTerm): string {
  const bare = bareUuid(repository);
  switch (term.kind) {
    case 'all':
      return `${bare} all`;
    case 'type':
      return `${bare} type ${term.type}`;
    case 'pullRequest':
      return `${bare} pr ${term.pullRequest}`;
    case 'person':
      return `${bare} person ${term.accountId}`;
    case 'spill':
      return `${bare} spill`;
  }
}

/**
 * The index records for entry `seq` and what the head keeps after it, within `room` transaction
 * operations: one for the whole ledger, one for the type, one for the pull request (if any), then one
 * per person named, who acted first. People who do not fit are listed in one `spill` record instead
 * (the page reads it when it filters by person), so an entry naming many people (a merge counting
 * many approvers) still commits in one transaction and is still found.
 */
export function auditIndexWrites(
  repository: string,
  seq: number,
  at: string,
  facts: AuditFacts,
  room: number,
  previous: AuditMeta | undefined,
): { records: { key: string; value: AuditIndexRecord }[]; meta: AuditMeta } {
  const facets: AuditIndexRecord['facets'] = { type: facts.type, pr: facts.pullRequest };
  const terms: AuditTerm[] = [{ kind: 'all' }, { kind: 'type', type: facts.type }, ...(facts.pullRequest !== null ? [{ kind: 'pullRequest' as const, pullRequest: facts.pullRequest }] : [])];
  // Everyone fits, or all but one record's worth, which then lists the rest.
  const fits = facts.people.length <= room - terms.length;
  const indexed = fits ? facts.people : facts.people.slice(0, Math.max(0, room - terms.length - 1));
  if (!fits && room - terms.length < 1) {
    throw new RequestError('INTERNAL', `This change leaves no room in its KVS transaction (${MAX_TRANSACTION_OPS} operations) for the audit indexes of its ledger entry; it was not saved. Contact Countersign support.`);
  }
  const order = auditOrder(at, seq);
  const records = [...terms, ...indexed.map((accountId) => ({ kind: 'person' as const, accountId }))].map((term, n) => ({
    key: indexKey(repository, seq, n),
    value: { term: termKey(repository, term), order, seq, facets } satisfies AuditIndexRecord,
  }));
  const spilled = fits ? [] : facts.people.slice(indexed.length);
  if (spilled.length > 0) {
    records.push({ key: indexKey(repository, seq, records.length), value: { term: termKey(repository, { kind: 'spill' }), order, seq, facets: { ...facets, spilled } } });
  }
  return {
    records,
    meta: {
      from: previous?.from ?? seq,
      at,
      spills: (previous?.spills ?? 0) + (spilled.length > 0 ? 1 : 0),
      lastSpill: spilled.length > 0 ? seq : (previous?.lastSpill ?? 0),
    },
  };
}

function indexKey(repository: string, seq: number, n: number): string {
  return `auditindex:${bareUuid(repository)}:${seq}:${n}`;
}
