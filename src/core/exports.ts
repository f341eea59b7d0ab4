import { canonicalBytes } from './crypto';
import { encodeBase64, IN_TOTO_PAYLOAD_TYPE, pae, payloadBytes, type Envelope } from './dsse';
import { RequestError } from './errors';
import { readLedgerEvent, type KnownLedgerEvent } from './evidence';
import { signWithAppKey, type AppPublicJwk, type AppSigningKey } from './appKey';
import { LedgerChain, type LedgerEntry, type LedgerHead, type SignedLedgerEntry } from './ledger';
import type { MergeRecord } from './reevaluation';
import { IN_TOTO_STATEMENT_TYPE } from './statement';
import { bareUuid } from './subject';

/**
 * The export formats of the evidence issue besides the evidence bundle itself (`evidence.ts`):
 * - each approval as a Sigstore bundle v0.3 around its DSSE envelope, for `@sigstore/verify` or
 *   `cosign verify-blob-attestation --key`;
 * - per merge, an app-signed SLSA Verification Summary Attestation (VSA) for the source track;
 * - ledger entries as CSV for spreadsheets.
 * Pure: no I/O, no clock (times come from the ledger entries).
 */

// ---------------------------------------------------------------------------------------------
// A page of the ledger, checked before anything is derived from it
// ---------------------------------------------------------------------------------------------

const BROKEN_ADVICE = 'Nothing is exported from a ledger that does not check out; export the evidence bundle and run "countersign verify" on it to see every problem.';

/**
 * The entries of one export page, each checked as `verifyLedger` checks it (`LedgerChain`: the app
 * signature, the stored hash, the sequence and the chain link to the entry before), and complete: every
 * seq from `fromSeq` to `toSeq`. The first page starts at entry 1 (chained to the genesis); a later one
 * is given the entry before it first (`after`, the seq and hash the previous page ended with, read again
 * and checked to be that very entry), so the pages of an export chain to each other. When `head` is the
 * last entry of the page, that entry must be it. Any problem refuses the page (LEDGER_BROKEN), naming
 * the entry and why.
 */
export async function checkedLedgerPage(
  signed: readonly SignedLedgerEntry[],
  options: { ledger: string; appKeys: ReadonlyMap<string, AppPublicJwk>; fromSeq: number; toSeq: number; after?: LedgerHead; head?: LedgerHead },
): Promise<{ signed: SignedLedgerEntry; entry: LedgerEntry; hash: string }[]> {
  const chain = new LedgerChain(options.appKeys, options.ledger);
  // Hashing and signature checks of the whole page at once; then linked one by one, in order.
  const prepared = await Promise.all(signed.map((s) => chain.prepare(s)));
  const broken = (message: string) => new RequestError('LEDGER_BROKEN', `${message} ${BROKEN_ADVICE}`);
  let start = 0;
  if (options.after) {
    const { seq, hash } = options.after;
    const anchor = prepared[0];
    const same = anchor?.entry?.seq === seq && anchor.hash === hash && anchor.storedHashMatches && !anchor.signature;
    if (!anchor || !same) {
      throw broken(`Ledger entry ${seq}, which the previous page of this export ended with, is not the entry it was (it changed or is gone); start the export again, and if this repeats the ledger was altered.`);
    }
    // Its own link to the entry before it was checked on the previous page.
    chain.link(anchor, 0);
    start = 1;
  }
  const checked: { signed: SignedLedgerEntry; entry: LedgerEntry; hash: string }[] = [];
  for (let i = start; i < prepared.length; i++) {
    const linked = chain.link(prepared[i]!, i);
    const problem = linked.problems[0];
    if (problem) {
      const which = problem.seq ?? (options.fromSeq + i - start);
      throw broken(`Ledger entry ${which} does not check out (${problem.code}): ${problem.message}`);
    }
    checked.push({ signed: signed[i]!, entry: linked.entry!, hash: linked.hash! });
  }
  const first = checked[0]?.entry.seq;
  const last = checked.at(-1)?.entry.seq;
  const expected = Math.max(0, options.toSeq - options.fromSeq + 1);
  if (expected === 0 ? checked.length > 0 : first !== options.fromSeq || last !== options.toSeq || checked.length !== expected) {
    throw broken(
      `Ledger entries ${options.fromSeq} to ${options.toSeq} should all be in storage, but ${checked.length === 0 ? 'none is' : `only ${first} to ${last} are`}: entries are missing.`,
    );
  }
  if (options.head && options.head.seq === options.toSeq && checked.at(-1)!.hash !== options.head.hash) {
    throw broken(`Ledger entry ${options.toSeq} is not the head the ledger records (its hash differs).`);
  }
  return checked;
}

// ---------------------------------------------------------------------------------------------
// Sigstore bundle v0.3
// ---------------------------------------------------------------------------------------------

export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/**
 * The JSON form of a Sigstore bundle (protobuf-specs `Bundle`) holding a DSSE envelope and a key hint.
 * The other oneof branches are spelled out as undefined (they vanish in JSON) so the value also
 * satisfies `@sigstore/bundle`'s `SerializedBundle` type.
 */
export interface SigstoreDsseBundle {
  mediaType: typeof SIGSTORE_BUNDLE_V03;
  verificationMaterial: {
    publicKey: { hint: string };
    x509CertificateChain: undefined;
    certificate: undefined;
    tlogEntries: never[];
    timestampVerificationData: undefined;
  };
  messageSignature: undefined;
  dsseEnvelope: Envelope;
}

/**
 * A v0.3 bundle holding the envelope exactly as signed, the key named by hint only (the approver's
 * RFC 7638 key id), no transparency log entries or timestamps: it verifies against the approver's
 * public key alone (`cosign verify-blob-attestation --key … --insecure-ignore-tlog`).
 */
export function sigstoreBundleOf(envelope: Envelope, keyHint: string): SigstoreDsseBundle {
  return {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: {
      publicKey: { hint: keyHint },
      x509CertificateChain: undefined,
      certificate: undefined,
      tlogEntries: [],
      timestampVerificationData: undefined,
    },
    messageSignature: undefined,
    dsseEnvelope: {
      payload: envelope.payload,
      payloadType: envelope.payloadType,
      signatures: envelope.signatures.map(({ keyid, sig }) => ({ keyid, sig })),
    },
  };
}

/**
 * The event of a ledger entry, read with the schemas the evidence verifier judges by (`readLedgerEvent`);
 * undefined for an event type this version does not know. A known event that does not read is refused
 * (MALFORMED_ENTRY), naming the entry, rather than exported as whatever it happens to hold.
 */
export function exportedEventOf(entry: LedgerEntry): KnownLedgerEvent | undefined {
  const read = readLedgerEvent(entry.event);
  if (read.kind === 'malformed') {
    throw new RequestError(
      'MALFORMED_ENTRY',
      `Ledger entry ${entry.seq} (${entry.event.type}) is not in the shape this version of Countersign reads (${read.problem}), so nothing is exported from it; export the evidence bundle and run "countersign verify" on it to see every problem.`,
    );
  }
  return read.kind === 'known' ? read.event : undefined;
}

/** The Sigstore bundle of a merge or deployment decision, hinted with the key it was verified against; undefined for any other event. */
export function approvalBundleOf(event: KnownLedgerEvent | undefined): SigstoreDsseBundle | undefined {
  if (event?.type !== 'decision.accepted' && event?.type !== 'deployment.decision.accepted') return undefined;
  return sigstoreBundleOf(event.envelope, event.keyId);
}

// ---------------------------------------------------------------------------------------------
// SLSA Verification Summary (source track)
// ---------------------------------------------------------------------------------------------

/**
 * Relied on (slsa-framework/slsa, docs/spec/draft/verification_summary.md and verified-properties.md):
 * - predicateType `https://slsa.dev/verification_summary/v1`; predicate fields `verifier.id` (URI,
 *   required), `timeVerified` (optional), `resourceUri` (required), `policy` (ResourceDescriptor,
 *   required: MUST have `uri`, SHOULD have `digest`), `inputAttestations` (optional; each entry MUST
 *   have a `digest`), `verificationResult` "PASSED" | "FAILED", `verifiedLevels` (required: levels and
 *   verified properties, or "FAILED" when policy verification failed), `slsaVersion` "<MAJOR>.<MINOR>".
 * - "Users MAY use custom values here but MUST NOT use custom values starting with `SLSA_`", and
 *   "Producers MAY add extension fields using field names that are URIs".
 * - `SLSA_SOURCE_TWO_PARTY_REVIEWED`: see `twoPartyReviewed`.
 * - The subject of a source VSA is the revision, digest `gitCommit`, with the refs it was verified for:
 *   `subject.annotations.source_refs` in v1.2's "Verifying source" (what a consumer SHOULD compare), spelt
 *   `sourceRefs` in the current draft's "Source verification summary attestation" ("git references MUST
 *   be fully qualified", e.g. `refs/heads/main`; one way to populate it: "Issue a new VSA for each merged
 *   Pull Request and add the destination branch"). Both spellings are written, with the same list.
 *   `subject.uri` "SHOULD be set to a URI where a human can find details about the revision", and
 *   `resourceUri` "MUST be set to the URI of the repository", e.g. `git+https://github.com/foo/hello-world`.
 * - Here the revision is the commit the merge wrote onto the target branch (merge, squash or, for a
 *   fast-forward, the head itself), as Bitbucket named it and the merge record keeps it; the reviewed
 *   head commit is in the extension field. A merge record without it (written before it was kept) gets
 *   no summary: its subject is not known, and the export says it was skipped.
 * No `SLSA_SOURCE_LEVEL_n` is claimed: source levels are properties of the source control system
 * (Bitbucket's branch protection, retained history, identity), which Countersign does not control.
 */
export const VERIFICATION_SUMMARY_V1 = 'https://slsa.dev/verification_summary/v1';
export const SLSA_SOURCE_TWO_PARTY_REVIEWED = 'SLSA_SOURCE_TWO_PARTY_REVIEWED';
/** Ours: the Countersign quorum of the policy in force was met for this commit (SLSA reserves the `SLSA_` prefix). */
export const COUNTERSIGN_QUORUM_MET = 'COUNTERSIGN_QUORUM_MET';
/** Ours: merged while the gate said no (an admin bypass, or a workspace not enforcing the check). */
export const COUNTERSIGN_MERGE_BYPASSED = 'COUNTERSIGN_MERGE_BYPASSED';
export const COUNTERSIGN_VERIFIER_ID = 'https://countersign.dev/verifier/v1';
/** The extension field carrying what the summary was judged on. */
export const COUNTERSIGN_MERGE_EXTENSION = 'https://countersign.dev/verification_summary/merge/v1';

export interface VerificationSummary {
  _type: typeof IN_TOTO_STATEMENT_TYPE;
  subject: { name: string; uri: string; digest: { gitCommit: string }; annotations: { source_refs: string[]; sourceRefs: string[] } }[];
  predicateType: typeof VERIFICATION_SUMMARY_V1;
  predicate: {
    verifier: { id: string; version?: Record<string, string> };
    timeVerified: string;
    resourceUri: string;
    policy: { uri: string; digest?: { sha256: string } };
    inputAttestations: { uri: string; digest: { sha256: string } }[];
    verificationResult: 'PASSED' | 'FAILED';
    verifiedLevels: string[];
    slsaVersion: '1.2';
    [COUNTERSIGN_MERGE_EXTENSION]: {
      pullRequest: number;
      /** The pull request's head commit that was reviewed and judged; the subject is what merging it wrote. */
      reviewedCommit: string;
      mergedBy: MergeRecord['mergedBy'];
      bypassed: boolean;
      author: string;
      approvedBy: string[];
      counted: { signer: string; keyId: string; decision: 'approve' | 'reject'; entry: number | null }[];
      message: string;
      policyVersion: number | null;
    };
  };
}

/** A merge as the ledger holds it: the entry's seq, time and SHA-256, and its event. */
export interface MergeEntry {
  seq: number;
  at: string;
  hash: string;
  event: { type: 'merge.recorded' | 'merge.bypassed' } & MergeRecord;
}

/** The merge of a ledger entry whose event was read by `exportedEventOf`; undefined for any other event. */
export function mergeEntryOf(entry: LedgerEntry, hash: string, event: KnownLedgerEvent | undefined): MergeEntry | undefined {
  if (event?.type !== 'merge.recorded' && event?.type !== 'merge.bypassed') return undefined;
  return { seq: entry.seq, at: entry.at, hash, event };
}

/** A merge whose verification summary an export left out, and why, in a sentence. */
export interface SkippedSummary {
  seq: number;
  pullRequest: number;
  code: 'MERGE_COMMIT_UNKNOWN';
  message: string;
}

/**
 * Who reviewed the merged commit, as SLSA's two-party review asks. SLSA (Source track, "Two-Person
 * Reviewed"): "Every change in the revision's history was agreed to by two trusted persons prior to
 * submission ... The following combinations are acceptable: Uploader and reviewer are two different
 * trusted persons. Two different reviewers are trusted persons." and the property
 * SLSA_SOURCE_TWO_PARTY_REVIEWED "MUST only be issued in accordance with the Source Track's
 * two-party-review requirements" (verified-properties.md).
 *
 * Here: the parties are the pull request's author (the uploader) and every signer whose approval
 * counted toward the quorum, of this very commit. A reviewer who wrote the pull request or any of its
 * commits reviewed their own work and is not a second party. Two distinct people are needed; the
 * merge must also have passed the gate (a bypassed merge was not agreed to before submission).
 */
export function reviewParties(record: MergeRecord): string[] {
  const authors = new Set([record.facts.author, ...record.facts.commitAuthors]);
  const reviewers = record.counted
    .filter((c) => c.decision === 'approve' && c.commit === record.facts.headCommit && !authors.has(c.signer))
    .map((c) => c.signer);
  return [...new Set([record.facts.author, ...reviewers])].sort();
}

export function twoPartyReviewed(record: MergeRecord): boolean {
  return record.verdict.gated && record.verdict.pass && !record.bypassed && reviewParties(record).length >= 2;
}

/** The repository as a SLSA resource URI (`git+https://…`, as the Source track's examples write it). */
export function repositoryUri(workspace: string, repository: string): string {
  return `git+https://bitbucket.org/${encodeURIComponent(workspace)}/${encodeURIComponent(repository)}`;
}

/** Where a ledger entry can be found again: the repository ledger, by seq. */
export function ledgerEntryUri(repository: string, seq: number): string {
  return `urn:countersign:ledger:${bareUuid(repository)}:${seq}`;
}

export function policyUri(repository: string, version: number | null): string {
  return `urn:countersign:policy:${bareUuid(repository)}:${version ?? 'none'}`;
}

/**
 * The SLSA Verification Summary of one merge: subject the commit the merge wrote (`gitCommit`) on the
 * target ref; verified against the policy version in force (uri and SHA-256); PASSED only for a
 * `merge.recorded` whose gate was met. `timeVerified` is the moment the merge entry was written; the
 * one input attestation is that ledger entry, which names the counted approvals by seq. A merge
 * record that does not name its merge commit is `skipped`: no subject is claimed that is not known.
 */
export function verificationSummaryOf(merge: MergeEntry, options: { verifierVersion?: string } = {}): { summary: VerificationSummary } | { skipped: SkippedSummary } {
  const { event } = merge;
  const { subject, facts, verdict, mergeCommit } = event;
  if (!mergeCommit) {
    return {
      skipped: {
        seq: merge.seq,
        pullRequest: subject.pullRequest,
        code: 'MERGE_COMMIT_UNKNOWN',
        message: `The merge of pull request #${subject.pullRequest} (ledger entry ${merge.seq}) was recorded before Countersign kept the commit a merge writes, so no verification summary is made for it: its subject would be a guess. The entry itself is in the evidence bundle.`,
      },
    };
  }
  const passed = event.type === 'merge.recorded' && !event.bypassed && verdict.gated && verdict.pass;
  const levels = passed ? [...(twoPartyReviewed(event) ? [SLSA_SOURCE_TWO_PARTY_REVIEWED] : []), COUNTERSIGN_QUORUM_MET] : ['FAILED', ...(event.bypassed ? [COUNTERSIGN_MERGE_BYPASSED] : [])];
  const repo = repositoryUri(subject.workspace, subject.repository);
  const policyHex = verdict.policy?.hash.replace(/^sha256:/, '');
  const ref = `refs/heads/${facts.targetBranch}`;
  const summary: VerificationSummary = {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [
      {
        name: `${repo}@${ref}`,
        uri: `${repo.slice('git+'.length)}/commits/${mergeCommit}`,
        digest: { gitCommit: mergeCommit },
        annotations: { source_refs: [ref], sourceRefs: [ref] },
      },
    ],
    predicateType: VERIFICATION_SUMMARY_V1,
    predicate: {
      verifier: { id: COUNTERSIGN_VERIFIER_ID, ...(options.verifierVersion ? { version: { countersign: options.verifierVersion } } : {}) },
      timeVerified: merge.at,
      resourceUri: repo,
      policy: { uri: policyUri(subject.repository, verdict.policy?.version ?? null), ...(policyHex ? { digest: { sha256: policyHex } } : {}) },
      inputAttestations: [{ uri: ledgerEntryUri(subject.repository, merge.seq), digest: { sha256: merge.hash } }],
      verificationResult: passed ? 'PASSED' : 'FAILED',
      verifiedLevels: levels,
      slsaVersion: '1.2',
      [COUNTERSIGN_MERGE_EXTENSION]: {
        pullRequest: subject.pullRequest,
        reviewedCommit: facts.headCommit,
        mergedBy: event.mergedBy,
        bypassed: event.bypassed,
        author: facts.author,
        approvedBy: reviewParties(event).filter((p) => p !== facts.author),
        counted: event.counted.map(({ signer, keyId, decision, entry }) => ({ signer, keyId, decision, entry })),
        message: verdict.message,
        policyVersion: verdict.policy?.version ?? null,
      },
    },
  };
  return { summary };
}

/** The summary as an in-toto DSSE envelope (JCS payload), signed with the app's key: the same key that signs the ledger. */
export async function signVerificationSummary(summary: VerificationSummary, appKey: AppSigningKey): Promise<Envelope> {
  const bytes = canonicalBytes(summary);
  const sig = await signWithAppKey(appKey, pae(IN_TOTO_PAYLOAD_TYPE, bytes));
  return { payloadType: IN_TOTO_PAYLOAD_TYPE, payload: encodeBase64(bytes), signatures: [{ keyid: appKey.keyId, sig: encodeBase64(sig) }] };
}

/** The summary an envelope carries, parsed from its payload bytes; undefined when unreadable. Does not check the signature. */
export function summaryOfEnvelope(envelope: Envelope): VerificationSummary | undefined {
  const bytes = payloadBytes(envelope);
  if (!bytes || envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return undefined;
  try {
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as VerificationSummary;
    return value?.predicateType === VERIFICATION_SUMMARY_V1 ? value : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

export const CSV_COLUMNS = ['seq', 'time', 'type', 'pull request', 'commit', 'signer/account', 'decision', 'key id', 'policy version', 'entry hash'] as const;

/**
 * One RFC 4180 field. A cell that a spreadsheet would read as a formula (starting with = + - @, or a
 * tab or carriage return, per OWASP's CSV injection advice) gets a leading `'`; then any cell holding
 * a quote, comma, CR or LF is quoted, with quotes doubled.
 */
export function csvCell(value: string | number | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 lines end in CRLF, the last one included. */
export function csvRow(cells: readonly (string | number | null | undefined)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/** The columns of one ledger entry; blank where the event has no such thing (or is of a type this version does not know). */
export function csvCellsOf(entry: LedgerEntry, hash: string, event: KnownLedgerEvent | undefined = exportedEventOf(entry)): (string | number | null)[] {
  const row = { pullRequest: null as number | null, commit: '', who: '', decision: '', keyId: '', policy: null as number | null };
  const e = event;
  switch (e?.type) {
    case 'decision.accepted':
      Object.assign(row, { pullRequest: e.subject.pullRequest, commit: e.subject.commit, who: e.signer, decision: e.decision, keyId: e.keyId });
      break;
    case 'key.enrolled':
    case 'key.renamed':
      Object.assign(row, { who: e.accountId, keyId: e.keyId });
      break;
    case 'key.revoked':
      Object.assign(row, { who: e.accountId, keyId: e.keyId, decision: `revoked by ${e.revokedBy} (${e.scope})` });
      break;
    case 'policy.saved':
      Object.assign(row, { who: e.savedBy, policy: e.policy.version });
      break;
    case 'merge.recorded':
    case 'merge.bypassed':
      Object.assign(row, {
        pullRequest: e.subject.pullRequest,
        commit: e.facts.headCommit,
        who: e.mergedBy,
        decision: e.verdict.pass ? 'quorum met' : 'quorum not met',
        policy: e.verdict.policy?.version ?? null,
      });
      break;
    case 'automerge.attempted':
    case 'automerge.failed':
      Object.assign(row, { pullRequest: e.subject.pullRequest, commit: e.subject.commit, who: 'countersign', decision: e.strategy ?? '' });
      break;
    // Deployments have no pull request; the environment goes where the decision is said.
    case 'deployment.decision.accepted':
      Object.assign(row, { commit: e.subject.commit, who: e.signer, decision: `${e.decision} deploying to ${e.subject.environment}`, keyId: e.keyId });
      break;
    case 'deployment.requested':
      Object.assign(row, { commit: e.subject.commit, who: 'countersign', decision: `requested for ${e.subject.environment} by pipeline ${e.request.pipeline}` });
      break;
    case 'deployment.allowed':
      Object.assign(row, { commit: e.subject.commit, who: 'countersign', decision: `allowed to ${e.verdict.facts.environment.name ?? e.subject.environment} (${e.verdict.counted.map((c) => c.signer).join(' ')})`, policy: e.verdict.policy?.version ?? null });
      break;
    case 'deployment.reported':
      Object.assign(row, {
        commit: e.subject.commit,
        who: 'bitbucket',
        decision: `${e.state}${e.outcome ? ` ${e.outcome}` : ''} in ${e.subject.environment}${e.flagged ? ' FLAGGED: without approval' : e.allowed ? ' (allowed)' : ''}`,
      });
      break;
    default:
      break;
  }
  return [entry.seq, entry.at, entry.event.type, row.pullRequest, row.commit, row.who, row.decision, row.keyId, row.policy, hash];
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/** As the audit page filters: both bounds inclusive, compared to the millisecond (a day's `to` is its 23:59:59.999Z). */
export interface ExportFilter {
  pullRequest?: number;
  /** Inclusive lower bound on the entry's `at`, an ISO timestamp. */
  from?: string;
  /** Inclusive upper bound on the entry's `at`. */
  to?: string;
}

/** The pull request an event is about, if any. */
export function pullRequestOfEvent(event: LedgerEntry['event']): number | undefined {
  const subject = (event as { subject?: unknown }).subject;
  const id = typeof subject === 'object' && subject !== null ? (subject as { pullRequest?: unknown }).pullRequest : undefined;
  return typeof id === 'number' ? id : undefined;
}

export function matchesFilter(entry: LedgerEntry, filter: ExportFilter): boolean {
  if (filter.pullRequest !== undefined && pullRequestOfEvent(entry.event) !== filter.pullRequest) return false;
  const at = Date.parse(entry.at);
  if (filter.from !== undefined && at < Date.parse(filter.from)) return false;
  if (filter.to !== undefined && at > Date.parse(filter.to)) return false;
  return true;
}
