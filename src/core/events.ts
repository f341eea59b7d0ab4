import type { Envelope } from './dsse';
import type { PublicJwk } from './publicKey';
import type { Policy } from './policy';
import type { PullRequestSubject } from './subject';

/** The ledger for events that belong to no repository the caller may write to (a repository's ledger is named by its UUID). */
export const INSTALLATION_LEDGER = 'installation';

/**
 * What the per-repository ledger records, one entry each, in the same transaction as the change to
 * current state. The decision entry carries the approver's envelope exactly as received, with the
 * public key it verified against, so the ledger alone is enough to re-check every signature offline.
 */
export type LedgerEventOf =
  | {
      type: 'decision.accepted';
      subject: PullRequestSubject;
      signer: string;
      keyId: string;
      decision: 'approve' | 'reject';
      publicKey: PublicJwk;
      envelope: Envelope;
    }
  | { type: 'key.enrolled'; accountId: string; keyId: string; publicKey: PublicJwk; label: string }
  | { type: 'key.renamed'; accountId: string; keyId: string; label: string; previousLabel: string }
  | { type: 'key.revoked'; accountId: string; keyId: string; revokedBy: string; scope: 'everywhere' | 'repository' }
  | { type: 'policy.saved'; savedBy: string; previous: { version: number; hash: string } | null; policy: Policy };
