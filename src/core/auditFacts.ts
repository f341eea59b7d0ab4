import { RequestError } from './errors';
import type { LedgerEventOf } from './events';

/**
 * What the audit page shows of a ledger event and filters on: its type, who acted, everyone it names,
 * the pull request and commit, the decision, key and policy version. One derivation, used both by the
 * writer of the audit indexes (in the same transaction as the entry) and by the page, so an index can
 * never answer a filter differently from the entry it points to.
 */
export interface AuditFacts {
  type: string;
  /** The account that acted, when one did (Countersign's own merges and auto-merge outcomes have none). */
  who: string | null;
  /** Every account the entry names (who acted first, then whose key, who was counted), each once. */
  people: string[];
  pullRequest: number | null;
  commit: string | null;
  decision: 'approve' | 'reject' | null;
  keyId: string | null;
  policyVersion: number | null;
}

const NONE: Omit<AuditFacts, 'type'> = { who: null, people: [], pullRequest: null, commit: null, decision: null, keyId: null, policyVersion: null };

/** The facts of an event as recorded; an event that is not an object reads as type "unreadable". */
export function auditFacts(recorded: unknown): AuditFacts {
  if (recorded === null || typeof recorded !== 'object' || typeof (recorded as { type?: unknown }).type !== 'string') return { type: 'unreadable', ...NONE };
  const event = recorded as LedgerEventOf;
  const shown: AuditFacts = { type: event.type, ...NONE };
  switch (event.type) {
    case 'decision.accepted':
      return {
        ...shown,
        who: event.signer,
        people: strings([event.signer]),
        pullRequest: event.subject?.pullRequest ?? null,
        commit: event.subject?.commit ?? null,
        decision: event.decision,
        keyId: event.keyId,
      };
    case 'key.enrolled':
    case 'key.renamed':
      return { ...shown, who: event.accountId, people: strings([event.accountId]), keyId: event.keyId };
    case 'key.revoked':
      return { ...shown, who: event.revokedBy, people: strings([event.revokedBy, event.accountId]), keyId: event.keyId };
    case 'policy.saved':
      return { ...shown, who: event.savedBy, people: strings([event.savedBy]), policyVersion: event.policy?.version ?? null };
    case 'merge.recorded':
    case 'merge.bypassed':
      return {
        ...shown,
        people: strings([event.facts?.author, ...(event.counted ?? []).map((c) => c?.signer)]),
        pullRequest: event.subject?.pullRequest ?? null,
        commit: event.subject?.commit ?? event.facts?.headCommit ?? null,
        policyVersion: event.verdict?.policy?.version ?? null,
      };
    case 'automerge.attempted':
    case 'automerge.failed':
      return { ...shown, pullRequest: event.subject?.pullRequest ?? null, commit: event.subject?.commit ?? null };
    case 'deployment.decision.accepted':
      return { ...shown, who: event.signer, people: strings([event.signer]), commit: event.subject?.commit ?? null, decision: event.decision, keyId: event.keyId };
    case 'deployment.requested':
      return { ...shown, people: strings([event.request?.pipelineStarter, event.request?.commitAuthor]), commit: event.subject?.commit ?? null };
    case 'deployment.allowed':
      return {
        ...shown,
        people: strings([...(event.verdict?.counted ?? []).map((c) => c?.signer), event.verdict?.facts?.pipelineStarter, event.verdict?.facts?.commitAuthor]),
        commit: event.subject?.commit ?? null,
        policyVersion: event.verdict?.policy?.version ?? null,
      };
    case 'deployment.reported':
      return { ...shown, commit: event.subject?.commit ?? null };
    default:
      return shown;
  }
}

/** The strings among `ids`, each once, in order. */
function strings(ids: unknown[]): string[] {
  return [...new Set(ids.filter((p): p is string => typeof p === 'string' && p.length > 0))];
}

/** The seq, zero-padded to the 10 digits a cursor allows, so orders compare as strings. */
const SEQ_DIGITS = 10;

/** Where an entry sorts in every index: its time (ISO 8601, UTC, to the millisecond), then its seq. */
export function auditOrder(at: string, seq: number): string {
  return `${at}#${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** The lowest order on or after `at` (any seq), and the highest on or before it. */
export const orderFloor = (at: string) => `${at}#${'0'.repeat(SEQ_DIGITS)}`;
export const orderCeiling = (at: string) => `${at}#${'9'.repeat(SEQ_DIGITS)}`;

/**
 * The time an entry is written at: the caller's time, but never before the previous entry's, so a
 * writer that lost a race and retried (or whose clock is behind another container's) cannot put seq
 * N + 1 before seq N, and a date window is a seq window. Chosen on every attempt, with the head it
 * extends. A time that is not ISO 8601 is refused: it would sort wrongly in every index.
 */
export function ledgerTime(at: string, previous: string | undefined): string {
  const ms = Date.parse(at);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(at) || Number.isNaN(ms)) {
    throw new RequestError('INTERNAL', `A ledger entry's time must be ISO 8601 in UTC to the millisecond (as toISOString() writes it), not "${at}".`);
  }
  return previous !== undefined && previous > at ? previous : at;
}
