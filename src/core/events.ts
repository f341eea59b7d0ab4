import type { Envelope } from './dsse';
import type { PublicJwk } from './publicKey';
import type { Policy } from './policy';
import type { MergeStrategy } from './policy';
import type { DeploymentSubject, PullRequestSubject } from './subject';
import type { DeploymentRequest } from './deploymentRequest';
import type { MergeRecord } from './reevaluation';
import type { DeploymentFacts } from './deploymentGate';
import type { DeploymentReportState } from './deploymentReport';

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
  | { type: 'policy.saved'; savedBy: string; previous: { version: number; hash: string } | null; policy: Policy }
  /** A merge of the pull request, with what the gate said at that moment: enough to re-run the assessment offline. */
  | ({ type: 'merge.recorded' } & MergeRecord)
  /** A merge made while the gate said no (an admin bypass, or a workspace that does not enforce the check): recorded and flagged. */
  | ({ type: 'merge.bypassed' } & MergeRecord)
  /** Countersign claimed the one auto-merge of this head commit and asked Bitbucket to merge. */
  | { type: 'automerge.attempted'; subject: PullRequestSubject; strategy: MergeStrategy }
  /** Bitbucket refused or failed the auto-merge; it is not tried again for this commit. */
  | { type: 'automerge.failed'; subject: PullRequestSubject; strategy: MergeStrategy; reason: string }
  /** A pipeline asked the gate about a deployment nobody had asked about: its pending request, with what Bitbucket said of it. */
  | { type: 'deployment.requested'; subject: DeploymentSubject; request: Omit<DeploymentRequest, 'state' | 'entry' | 'allowedAt'> }
  /** A deployment approval or rejection, with the envelope as received and the key it verified against. */
  | {
      type: 'deployment.decision.accepted';
      subject: DeploymentSubject;
      signer: string;
      keyId: string;
      decision: 'approve' | 'reject';
      publicKey: PublicJwk;
      envelope: Envelope;
    }
  /** The gate said yes to a pipeline: what it judged on and whose approvals counted (their envelopes are ledger entries `entry`). */
  | { type: 'deployment.allowed'; subject: DeploymentSubject; pipeline: string; step?: string; verdict: DeploymentAllowance }
  /** Bitbucket reported a deployment's progress; `allowed` says whether the gate had said yes to this commit and environment. */
  | { type: 'deployment.reported'; subject: DeploymentSubject; state: DeploymentReportState; outcome?: string; pipeline?: string; deployment?: string; allowed: boolean; flagged: boolean };

/** What a `deployment.allowed` entry keeps of the gate's answer: enough to re-run it offline. */
export interface DeploymentAllowance {
  gated: boolean;
  message: string;
  policy: { version: number; hash: string } | null;
  facts: DeploymentFacts;
  counted: { signer: string; keyId: string; decision: 'approve' | 'reject'; seq: number; entry: number | null }[];
}
