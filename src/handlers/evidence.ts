import { buildEvidenceLines, signKeyRoster, type EvidenceKeys, type LedgerHead } from '../core';
import type { LedgerStore } from '../ports';

/**
 * An evidence bundle's key section for `repository` up to `head`: the keys its decisions used, from
 * storage, in a roster the app signs now, and the entries of other ledgers the roster names.
 */
export async function evidenceKeys(ledger: LedgerStore, repository: string, head: LedgerHead | null, issuedAt: string): Promise<EvidenceKeys> {
  const [{ keys, events }, signing] = await Promise.all([ledger.keyEvidence(repository), ledger.appSigningKey()]);
  const roster = await signKeyRoster({ ledger: repository, head: head && { seq: head.seq, hash: head.hash }, issuedAt, keys }, signing);
  return { roster, events };
}

/**
 * An evidence bundle of one repository's ledger (see `src/core/evidence.ts` for the format), as lines
 * without their newlines, in one go: what the export resolver's pages add up to, for tests and the demo.
 */
export async function evidenceBundle(ledger: LedgerStore, repository: string, now: Date): Promise<string[]> {
  const [entries, appKey] = await Promise.all([ledger.readLedger(repository), ledger.appPublicKey()]);
  const last = entries.at(-1);
  const keys = await evidenceKeys(ledger, repository, last ? { seq: entries.length, hash: last.hash } : null, now.toISOString());
  return buildEvidenceLines({ ledger: repository, exportedAt: now.toISOString(), entries, appKeys: [appKey], keys });
}
