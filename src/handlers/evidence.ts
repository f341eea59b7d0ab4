import { buildEvidenceLines } from '../core';
import type { LedgerStore } from '../ports';

/**
 * An evidence bundle of one repository's ledger (see `src/core/evidence.ts` for the format), as lines
 * without their newlines. Used by tests now; the export resolver will stream the same lines.
 */
export async function evidenceBundle(ledger: LedgerStore, repository: string, now: Date): Promise<string[]> {
  const [entries, appKey] = await Promise.all([ledger.readLedger(repository), ledger.appPublicKey()]);
  return buildEvidenceLines({ ledger: repository, exportedAt: now.toISOString(), entries, appKeys: [appKey] });
}
