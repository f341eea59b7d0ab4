import * as z from 'zod/mini';
import { AppPublicJwk, appKeyId, publicHalf } from './appKey';
import { checkedApproval, isTimely, type ApprovalRecord, type CheckedApproval } from './assessment';
import { keyIdOf, type CryptoSuite } from './crypto';
import { EnvelopeShape, verifyReadEnvelopeEcdsa } from './dsseVerify';
import { AccountId, BitbucketUuid, BranchName, FullCommitHash, KeyId, PullRequestId, UtcTimestamp } from './formats';
import { entryRefId, openKeyRoster, type EntryRef, type KeyRoster } from './keyRoster';
import { LedgerChain, prepareEntry, type LedgerEntry, type LedgerHead, type LedgerProblemCode, type PreparedEntry, type SignedLedgerEntry } from './ledger';
import { hasIntactHash, Policy } from './policy';
import { RepeatedPublicJwk, type PublicJwk } from './publicKey';
import { evaluateQuorum } from './quorum';
import { revocationId } from './records';
import { readDeploymentFacts, readFacts } from './statementSchema';
import type { DecisionFacts } from './statement';
import { checkedDeploymentApproval, mergeToKeep, type DeploymentApprovalRecord } from './deploymentRequest';
import { evaluateDeployment, type CheckedDeploymentApproval, type DeploymentFacts } from './deploymentGate';
import { deploymentFlagged } from './deploymentReport';
import type { DeploymentDecisionFacts } from './deploymentStatement';
import { environmentPolicyFor } from './environmentPolicy';
import { bareUuid, deploymentId, shortCommit } from './subject';
import type { Envelope } from './dsse';

/**
 * Evidence bundles: one repository's ledger, exported so anyone can check it offline, and the
 * streaming verifier behind `countersign verify`.
 *
 * Format (version 2): JSON Lines, UTF-8, one JSON value a line.
 * - Line 1, the header: `{"format":"countersign-evidence","version":2,"ledger":"{repository uuid}",
 *   "exportedAt":"…Z","appKeys":[{"keyId":"<RFC 7638>","publicJwk":{"kty":"EC","crv":"P-256","x":"…","y":"…"}}],
 *   "entries":<count>,"head":{"seq":…,"hash":"…"}|null,"keys":{"roster":{DSSE},"events":[{"hash":"…","envelope":{DSSE}},…]}}`.
 * - Then every ledger entry, oldest first, exactly as stored: `{"hash":"<sha-256 hex>","envelope":{DSSE}}`.
 *
 * Policy versions need no section of their own: every `policy.saved` entry carries the whole policy
 * version (its rules and hash) under the app's signature, and each `decision.accepted` carries the
 * envelope and the key it was verified with. Keys enrolled from this repository are in its ledger;
 * `keys` carries the rest: the app-signed key roster (`keyRoster.ts`) of every key the decisions used,
 * and the entries of other ledgers (other repositories', the installation's) that enrolled them or
 * revoked them everywhere, exactly as stored there. (Version 1, never released, had no `keys`; it is
 * not read, since dropping the section would otherwise hide a revocation.) The header itself is not
 * signed: its app keys are only as good as the place they came from, so a verifier should pin them (`trustedAppKeyIds`) to the key the
 * app publishes (`getLedgerKey`).
 *
 * The verifier keeps only what later entries are judged against: the chain head, keys by (account,
 * key id) with the seq of their enrolment and revocation, policy versions by hash, and each open pull
 * request's latest decision per signer. Memory grows with people, keys, policies and open pull
 * requests, not with the number of entries.
 */
export const EVIDENCE_FORMAT = 'countersign-evidence';
export const EVIDENCE_VERSION = 2;

/**
 * Entries of two ledgers are ordered by their times, which different invocations' clocks set at the
 * start of each write attempt: within this much of each other, which came first cannot be told.
 */
export const CROSS_LEDGER_SKEW_MS = 60_000;

const Sha256Hex = z.string().check(z.regex(/^[0-9a-f]{64}$/));

/** The header's key section: the signed roster and the entries of other ledgers it names (checked when read). */
const EvidenceKeys = z.strictObject({
  roster: z.unknown(),
  events: z.array(z.unknown()).check(z.maxLength(200_000)),
});
export interface EvidenceKeys {
  roster: Envelope;
  events: SignedLedgerEntry[];
}

export const EvidenceHeader = z.strictObject({
  format: z.literal(EVIDENCE_FORMAT),
  version: z.literal(EVIDENCE_VERSION),
  ledger: z.string().check(z.minLength(1), z.maxLength(200)),
  exportedAt: UtcTimestamp,
  appKeys: z.array(z.strictObject({ keyId: z.string().check(z.maxLength(256)), publicJwk: AppPublicJwk })).check(z.minLength(1), z.maxLength(16)),
  entries: z.int().check(z.nonnegative()),
  head: z.nullable(z.strictObject({ seq: z.int().check(z.positive()), hash: Sha256Hex })),
  keys: EvidenceKeys,
});
export type EvidenceHeader = z.infer<typeof EvidenceHeader>;

/** The bundle as lines, from what `LedgerStore.readLedger` and `appPublicKey` return, and its key section (`evidenceKeys`). */
export function buildEvidenceLines(args: {
  ledger: string;
  exportedAt: string;
  entries: readonly SignedLedgerEntry[];
  appKeys: { keyId: string; publicJwk: AppPublicJwk }[];
  keys: EvidenceKeys;
}): string[] {
  const last = args.entries.at(-1);
  const head = last ? { seq: args.entries.length, hash: last.hash } : null;
  return [evidenceHeaderLine({ ...args, head }), ...args.entries.map(evidenceEntryLine)];
}

/**
 * The header line alone, for a bundle written in pages: `head` is the ledger head the export stops at
 * (its seq is the number of entries that follow, over all pages).
 */
export function evidenceHeaderLine(args: { ledger: string; exportedAt: string; head: LedgerHead | null; appKeys: { keyId: string; publicJwk: AppPublicJwk }[]; keys: EvidenceKeys }): string {
  const header: EvidenceHeader = {
    format: EVIDENCE_FORMAT,
    version: EVIDENCE_VERSION,
    ledger: args.ledger,
    exportedAt: args.exportedAt,
    appKeys: args.appKeys.map(({ keyId, publicJwk }) => ({ keyId, publicJwk: publicHalf(publicJwk) })),
    entries: args.head?.seq ?? 0,
    head: args.head ? { seq: args.head.seq, hash: args.head.hash } : null,
    keys: { roster: args.keys.roster, events: args.keys.events.map((e) => ({ hash: e.hash, envelope: e.envelope })) },
  };
  return JSON.stringify(header);
}

/** One entry line, exactly as stored. */
export function evidenceEntryLine(entry: SignedLedgerEntry): string {
  return JSON.stringify({ hash: entry.hash, envelope: entry.envelope });
}

/** The chain's own problems (`LedgerChain`), and what only a bundle can get wrong. */
export type EvidenceProblemCode =
  | LedgerProblemCode
  | 'UNREADABLE'
  | 'BAD_HEADER'
  | 'UNTRUSTED_APP_KEY'
  | 'NOT_JSON'
  | 'TRUNCATED'
  | 'MALFORMED_EVENT'
  | 'POLICY_HASH'
  | 'POLICY_ORDER'
  | 'POLICY_NOT_IN_FORCE'
  | 'KEY_ID'
  | 'KEY_CONFLICT'
  | 'KEY_MISMATCH'
  | 'KEY_REVOKED'
  | 'KEY_ROSTER'
  | 'KEY_EVENT'
  | 'KEY_EVENT_MISSING'
  | 'KEY_TIME'
  | 'KEY_UNKNOWN'
  | 'APPROVER_SIGNATURE'
  | 'STATEMENT_MISMATCH'
  | 'STATEMENT_TIME'
  | 'WRONG_REPOSITORY'
  | 'MERGE_POLICY'
  | 'MERGE_VERDICT'
  | 'MERGE_COUNTED'
  | 'DEPLOY_VERDICT'
  | 'DEPLOY_COUNTED'
  | 'DEPLOY_CHAIN'
  | 'DEPLOY_REPORT';

/**
 * Control failures the ledger records truthfully: the bundle is genuine, but what it shows did not hold.
 * `DEPLOYMENT_FLAGGED`: a deployment to a gated environment completed without the gate's yes.
 */
export type EvidenceFindingCode = 'DEPLOYMENT_FLAGGED';

export interface EvidenceFinding {
  seq: number;
  line: number;
  code: EvidenceFindingCode;
  message: string;
}

/** Things worth a reader's attention that do not make the bundle fail. */
export type EvidenceNoticeCode = 'MERGE_BYPASSED' | 'KEY_NOT_IN_BUNDLE' | 'KEY_REVOCATION_CLOSE' | 'UNKNOWN_EVENT' | 'APP_KEY_NOT_PINNED';

export interface EvidenceProblem {
  /** The entry's seq (its position when unreadable); absent for the header and the bundle as a whole. */
  seq?: number;
  /** The line of the bundle, from 1 (the header). */
  line?: number;
  code: EvidenceProblemCode;
  message: string;
}

export interface EvidenceNotice {
  seq?: number;
  line?: number;
  code: EvidenceNoticeCode;
  message: string;
}

export interface MergeOutcome {
  seq: number;
  type: 'merge.recorded' | 'merge.bypassed';
  pullRequest: number;
  commit: string;
  pass: boolean;
  /** Whether re-running the quorum over the bundle gave the verdict recorded. */
  reproduced: boolean;
}

/** A deployment the ledger records: an allowance (re-run) or a progress report from Bitbucket. */
export type DeploymentOutcome =
  | {
      seq: number;
      type: 'deployment.allowed';
      environment: string;
      commit: string;
      /** Whether re-running the gate over the bundle's decisions, revocations and policy allowed it too. */
      reproduced: boolean;
      /** The merge -> deploy chain: `met` when a counted merge in the ledger wrote the commit, `not-required` when the policy does not ask. */
      chain: 'met' | 'not-required' | 'broken';
    }
  | { seq: number; type: 'deployment.reported'; environment: string; commit: string; state: string; outcome?: string; allowed: boolean; flagged: boolean };

export interface EvidenceReport {
  /** Everything holds: no problem and no finding. */
  ok: boolean;
  format: typeof EVIDENCE_FORMAT;
  version: number;
  ledger?: string;
  appKeys: string[];
  entries: number;
  head?: LedgerHead;
  /** `keyEvents`: entries of other ledgers (in the header's key section) that enrol or revoke a key used here. */
  counts: {
    decisions: number;
    keys: number;
    revocations: number;
    policies: number;
    merges: number;
    bypassed: number;
    autoMerges: number;
    keyEvents: number;
    /** Deployment approvals and rejections, gate allowances (`deployments`), Bitbucket's reports, and reports flagged. */
    deploymentDecisions: number;
    deployments: number;
    deploymentReports: number;
    flagged: number;
  };
  /** Each merge, in ledger order, up to `maxProblems` of them (`counts.merges` counts them all). */
  merges: MergeOutcome[];
  /** Each deployment allowance and report, in ledger order, up to `maxProblems` of them. */
  deployments: DeploymentOutcome[];
  /** Control failures (flagged deployments), up to `maxProblems`; `counts.flagged` counts them all. */
  findings: EvidenceFinding[];
  problems: EvidenceProblem[];
  /** Problems beyond `maxProblems`, counted but not listed. */
  moreProblems: number;
  notices: EvidenceNotice[];
}

export interface EvidenceOptions {
  /** App key ids known from elsewhere (the app's `getLedgerKey`); the header's keys must be among them. */
  trustedAppKeyIds?: readonly string[];
  /** How many problems, notices and merges are listed (problems beyond are counted); 1,000 unless told. */
  maxProblems?: number;
  /** Called after each entry with the number checked so far. */
  onProgress?: (entries: number) => void;
  /** The primitives signatures and hashes are checked with; WebCrypto unless told (the CLI passes Node's). */
  suite?: CryptoSuite;
}

// ——— Events as the verifier reads them ———

const Subject = z.object({
  kind: z.literal('pull-request'),
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  pullRequest: PullRequestId,
  commit: FullCommitHash,
  targetBranch: BranchName,
});
const DecisionAccepted = z.object({
  type: z.literal('decision.accepted'),
  subject: Subject,
  signer: AccountId,
  keyId: KeyId,
  decision: z.enum(['approve', 'reject']),
  publicKey: RepeatedPublicJwk,
  // Its payload and signature are decoded as canonical base64 when it is verified, which checks them.
  envelope: EnvelopeShape,
});
const KeyEnrolled = z.object({ type: z.literal('key.enrolled'), accountId: AccountId, keyId: KeyId, publicKey: RepeatedPublicJwk, label: z.string() });
const KeyRenamed = z.object({ type: z.literal('key.renamed'), accountId: AccountId, keyId: KeyId, label: z.string() });
const KeyRevoked = z.object({ type: z.literal('key.revoked'), accountId: AccountId, keyId: KeyId, revokedBy: AccountId, scope: z.enum(['everywhere', 'repository']) });
const PolicySaved = z.object({
  type: z.literal('policy.saved'),
  savedBy: AccountId,
  previous: z.nullable(z.object({ version: z.int(), hash: z.string() })),
  policy: Policy,
});
const MergeEvent = z.object({
  type: z.enum(['merge.recorded', 'merge.bypassed']),
  subject: Subject,
  mergedBy: z.enum(['countersign', 'bitbucket']),
  bypassed: z.boolean(),
  verdict: z.object({ gated: z.boolean(), pass: z.boolean(), message: z.string(), policy: z.nullable(z.object({ version: z.int(), hash: z.string() })) }),
  facts: z.object({
    author: AccountId,
    sourceBranch: z.string(),
    targetBranch: BranchName,
    headCommit: FullCommitHash,
    commitAuthors: z.array(AccountId),
    state: z.string(),
  }),
  counted: z.array(
    z.object({
      signer: AccountId,
      keyId: KeyId,
      decision: z.enum(['approve', 'reject']),
      commit: FullCommitHash,
      policy: z.string(),
      seq: z.int(),
      entry: z.nullable(z.int()),
    }),
  ),
  // Kept since merge records name the commit the merge wrote; older records have none.
  mergeCommit: z.optional(FullCommitHash),
  merger: z.optional(AccountId),
});
const AutoMerge = z.object({ type: z.enum(['automerge.attempted', 'automerge.failed']), subject: Subject, strategy: z.optional(z.string()) });

const DeploymentSubjectSchema = z.object({ kind: z.literal('deployment'), workspace: BitbucketUuid, repository: BitbucketUuid, environment: BitbucketUuid, commit: FullCommitHash });
const DeploymentDecisionAccepted = z.object({
  type: z.literal('deployment.decision.accepted'),
  subject: DeploymentSubjectSchema,
  signer: AccountId,
  keyId: KeyId,
  decision: z.enum(['approve', 'reject']),
  publicKey: RepeatedPublicJwk,
  envelope: EnvelopeShape,
});
const DeploymentRequested = z.object({
  type: z.literal('deployment.requested'),
  subject: DeploymentSubjectSchema,
  request: z.object({ id: z.string(), environment: BitbucketUuid, commit: FullCommitHash, pipeline: BitbucketUuid, requestedAt: UtcTimestamp }),
});
const DeploymentFactsSchema = z.object({
  environment: z.object({ uuid: BitbucketUuid, name: z.optional(z.string()) }),
  commit: FullCommitHash,
  ref: z.optional(z.object({ type: z.enum(['branch', 'tag']), name: z.string() })),
  unverifiedRef: z.optional(z.object({ type: z.enum(['branch', 'tag']), name: z.string() })),
  commitAuthor: z.optional(AccountId),
  pipelineStarter: z.optional(AccountId),
  merge: z.optional(
    z.object({
      pullRequest: z.int(),
      gated: z.boolean(),
      pass: z.boolean(),
      merger: z.optional(AccountId),
      author: z.optional(AccountId),
      commitAuthors: z.optional(z.array(AccountId)),
      targetBranch: z.optional(z.string()),
      entry: z.optional(z.int()),
    }),
  ),
});
const DeploymentAllowed = z.object({
  type: z.literal('deployment.allowed'),
  subject: DeploymentSubjectSchema,
  pipeline: BitbucketUuid,
  step: z.optional(z.string()),
  verdict: z.object({
    gated: z.boolean(),
    message: z.string(),
    policy: z.nullable(z.object({ version: z.int(), hash: z.string() })),
    facts: DeploymentFactsSchema,
    counted: z.array(z.object({ signer: AccountId, keyId: KeyId, decision: z.enum(['approve', 'reject']), seq: z.int(), entry: z.nullable(z.int()) })),
  }),
});
const DeploymentReported = z.object({
  type: z.literal('deployment.reported'),
  subject: DeploymentSubjectSchema,
  state: z.enum(['pending', 'started', 'completed']),
  outcome: z.optional(z.string()),
  pipeline: z.optional(z.string()),
  deployment: z.optional(z.string()),
  allowed: z.boolean(),
  flagged: z.boolean(),
});

const SCHEMAS: Record<string, z.ZodMiniType> = {
  'decision.accepted': DecisionAccepted,
  'key.enrolled': KeyEnrolled,
  'key.renamed': KeyRenamed,
  'key.revoked': KeyRevoked,
  'policy.saved': PolicySaved,
  'merge.recorded': MergeEvent,
  'merge.bypassed': MergeEvent,
  'automerge.attempted': AutoMerge,
  'automerge.failed': AutoMerge,
  'deployment.decision.accepted': DeploymentDecisionAccepted,
  'deployment.requested': DeploymentRequested,
  'deployment.allowed': DeploymentAllowed,
  'deployment.reported': DeploymentReported,
};

/** Every event this version knows, read by its schema above; the one the `type` names is the one tried. */
const KnownEvent = z.discriminatedUnion('type', [
  DecisionAccepted,
  KeyEnrolled,
  KeyRenamed,
  KeyRevoked,
  PolicySaved,
  MergeEvent,
  AutoMerge,
  DeploymentDecisionAccepted,
  DeploymentRequested,
  DeploymentAllowed,
  DeploymentReported,
]);
export type KnownLedgerEvent = z.infer<typeof KnownEvent>;

/**
 * A ledger event read with the schemas the verifier judges by (for the exports): `known` with its
 * fields as they read, `unknown` for a type this version does not know (a later version's), or
 * `malformed`, saying what is wrong in a sentence.
 */
export function readLedgerEvent(event: { type: string }): { kind: 'known'; event: KnownLedgerEvent } | { kind: 'unknown' } | { kind: 'malformed'; problem: string } {
  if (!SCHEMAS[event.type]) return { kind: 'unknown' };
  const parsed = KnownEvent.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'the event';
    return { kind: 'malformed', problem: `${where} ${issue?.message ?? 'is not well formed'}` };
  }
  return { kind: 'known', event: parsed.data };
}

interface KeyState {
  publicKey: PublicJwk;
  enrolled: number;
  revoked?: number;
}

/** A roster key, with its enrolment and revocations from other ledgers as their entries (or the roster) say. */
interface RosterState {
  accountId: string;
  keyId: string;
  /** Enrolled in this ledger, at this seq (the roster says; the entry is judged in order). */
  enrolledHere?: number;
  /** Enrolled in another ledger: the key that entry carries. */
  enrolledElsewhere?: { publicKey: PublicJwk; at: number; where: string };
  /** The earliest revocation from elsewhere that holds here. */
  revokedElsewhere?: { at: number; where: string };
}

interface StoredDecision {
  record: ApprovalRecord;
}

/** What an auto-merge claim saw: the gate is read before the claim, so its merge is judged as of then too. */
interface Snapshot {
  asOf: number;
  /** The entry's time, in ms: revocations from other ledgers are ordered by time. */
  at: number;
  policy: Policy | undefined;
  decisions: Map<string, StoredDecision>;
}

/** An entry read and checked on its own, waiting to be judged in order. */
interface Prepared {
  ledger: PreparedEntry;
  /**
   * For a decision: the event as read, whether the approver's envelope verifies with the key it carries,
   * that key's id is its thumbprint, and what the verified statement says.
   */
  decision?: { event: z.infer<typeof DecisionAccepted>; verified: boolean; thumbprintMatches: boolean; facts: DecisionFacts | undefined };
  /** The same for a deployment decision. */
  deploymentDecision?: { event: z.infer<typeof DeploymentDecisionAccepted>; verified: boolean; thumbprintMatches: boolean; facts: DeploymentDecisionFacts | undefined };
}

/** What the re-run of a deployment allowance reads of a decision in force (the latest per signer). */
interface StoredDeploymentDecision {
  record: DeploymentApprovalRecord;
}

/** A merge as the merge -> deploy chain reads it, by the commit it wrote. */
interface MergedCommitState {
  seq: number;
  pullRequest: number;
  gated: boolean;
  pass: boolean;
  merger?: string;
  author: string;
  commitAuthors: string[];
  targetBranch: string;
  /** A `merge.recorded`, gated, passing and reproduced: a merge that counts. */
  counted: boolean;
}

/** A ledger merge as `evaluateDeployment` reads it. */
function deploymentMergeFacts(merged: MergedCommitState): NonNullable<DeploymentFacts['merge']> {
  return {
    pullRequest: merged.pullRequest,
    gated: merged.gated,
    pass: merged.pass,
    ...(merged.merger ? { merger: merged.merger } : {}),
    author: merged.author,
    commitAuthors: merged.commitAuthors,
    targetBranch: merged.targetBranch,
    entry: merged.seq,
  };
}

/** Whether what a deployment's facts say of its merge (what they say: older records say less) agrees with the ledger's merge. */
function sameMergeFacts(claimed: NonNullable<DeploymentFacts['merge']>, merged: MergedCommitState): boolean {
  if (claimed.merger !== undefined && claimed.merger !== merged.merger) return false;
  if (claimed.author !== undefined && claimed.author !== merged.author) return false;
  if (claimed.targetBranch !== undefined && claimed.targetBranch !== merged.targetBranch) return false;
  if (claimed.commitAuthors !== undefined && [...claimed.commitAuthors].sort().join(' ') !== merged.commitAuthors.join(' ')) return false;
  return true;
}

const DEFAULT_MAX_PROBLEMS = 1000;
/** Entries prepared ahead of the one being judged: enough to keep the crypto busy, few enough to keep memory flat. */
const WINDOW = 64;
/** Hashes kept to tell a repeated entry from a fork; further back, an entry out of place is only out of place. */
const CHAIN_MEMORY = 4096;

/**
 * Verifies a bundle one line at a time. `open` reads the header; `add` each further line (as text);
 * `finish` checks the end against the header and returns the report. Never throws on bad input.
 */
export class EvidenceVerifier {
  private readonly problems: EvidenceProblem[] = [];
  private readonly notices: EvidenceNotice[] = [];
  private moreProblems = 0;
  private readonly maxProblems: number;
  private line = 1;
  private index = 0;
  private readonly chain: LedgerChain;
  private readonly keys = new Map<string, KeyState>();
  /** Which account first enrolled each key id. */
  private readonly keyOwner = new Map<string, string>();
  private readonly policies = new Map<string, Policy>();
  private policy: Policy | undefined;
  private readonly decisions = new Map<number, Map<string, StoredDecision>>();
  private readonly claims = new Map<number, Snapshot>();
  private readonly merges: MergeOutcome[] = [];
  /**
   * By `deploymentId`: the latest deployment decision per signer. Kept for the whole bundle (a commit may
   * be deployed again), so it grows with deployments decided on, as `mergedCommits` grows with merges.
   */
  private readonly deploymentDecisions = new Map<string, Map<string, StoredDeploymentDecision>>();
  private readonly mergedCommits = new Map<string, MergedCommitState>();
  /** The pipelines the gate allowed, by `allowedKey` (deployment and pipeline), for the reports that follow: a yes to one pipeline is no yes to another. */
  private readonly allowedDeployments = new Set<string>();
  private readonly deploymentOutcomes: DeploymentOutcome[] = [];
  private readonly findings: EvidenceFinding[] = [];
  private readonly pending: { line: number; position: number; job: Promise<Prepared> | undefined }[] = [];
  private judged = 0;
  private readonly thumbprints = new Map<string, string>();
  private readonly counts: EvidenceReport['counts'] = {
    decisions: 0,
    keys: 0,
    revocations: 0,
    policies: 0,
    merges: 0,
    bypassed: 0,
    autoMerges: 0,
    keyEvents: 0,
    deploymentDecisions: 0,
    deployments: 0,
    deploymentReports: 0,
    flagged: 0,
  };
  /** The roster's keys by `revocationId`, with what the entries of other ledgers say of them. */
  private readonly roster = new Map<string, RosterState>();

  private constructor(
    private readonly header: EvidenceHeader,
    private readonly options: EvidenceOptions,
    problems: EvidenceProblem[],
  ) {
    this.maxProblems = options.maxProblems ?? DEFAULT_MAX_PROBLEMS;
    problems.forEach((p) => this.problem(p));
    this.chain = new LedgerChain(new Map(header.appKeys.map((k) => [k.keyId, k.publicJwk])), header.ledger, CHAIN_MEMORY, options.suite);
  }

  /** Reads the header line; undefined (with the reason) when this is not a bundle this verifier can read. */
  static async open(headerLine: string, options: EvidenceOptions = {}): Promise<EvidenceVerifier | { error: string }> {
    let value: unknown;
    try {
      value = JSON.parse(headerLine);
    } catch {
      return { error: 'The first line is not JSON; an evidence bundle starts with its header line.' };
    }
    const version = (value as { version?: unknown } | null)?.version;
    if ((value as { format?: unknown } | null)?.format === EVIDENCE_FORMAT && version !== EVIDENCE_VERSION) {
      return { error: `This is an evidence bundle of format version ${JSON.stringify(version)}; this verifier reads version ${EVIDENCE_VERSION}. Use a newer countersign.` };
    }
    const parsed = EvidenceHeader.safeParse(value);
    if (!parsed.success) return { error: `The first line is not a ${EVIDENCE_FORMAT} version ${EVIDENCE_VERSION} header: ${z.prettifyError(parsed.error).split('\n').slice(0, 3).join(' ')}` };
    const header = parsed.data;
    const problems: EvidenceProblem[] = [];
    for (const key of header.appKeys) {
      if ((await appKeyId(key.publicJwk)) !== key.keyId) problems.push({ line: 1, code: 'BAD_HEADER', message: `The header's app key ${key.keyId} is not the RFC 7638 thumbprint of the key given with it.` });
      if (options.trustedAppKeyIds && !options.trustedAppKeyIds.includes(key.keyId)) {
        problems.push({ line: 1, code: 'UNTRUSTED_APP_KEY', message: `The bundle's app key ${key.keyId} is not the app key you trust; entries it signed prove nothing. Check where the bundle came from.` });
      }
    }
    const verifier = new EvidenceVerifier(header, options, problems);
    await verifier.readKeys(header.keys);
    if (!options.trustedAppKeyIds) {
      verifier.notice({ line: 1, code: 'APP_KEY_NOT_PINNED', message: `The app key was taken from the bundle itself (${header.appKeys.map((k) => k.keyId).join(', ')}); compare it with the key the app publishes, or pass it with --app-key.` });
    }
    return verifier;
  }

  /** How many entries the header says follow. */
  get expectedEntries(): number {
    return this.header.entries;
  }

  /**
   * Takes the next line of the bundle (an entry; blank lines are skipped). Up to `WINDOW` entries are
   * read, hashed and signature-checked at once, then judged strictly in order; `finish` judges the rest.
   */
  async add(text: string): Promise<void> {
    this.line++;
    if (text.trim() === '') return;
    const line = this.line;
    const position = ++this.index;
    let signed: SignedLedgerEntry | undefined;
    try {
      signed = JSON.parse(text) as SignedLedgerEntry;
    } catch {
      signed = undefined;
    }
    const job = signed === undefined ? undefined : this.prepare(signed);
    // A rejected job would be unhandled until its turn; prepare never rejects, but be sure.
    job?.catch(() => undefined);
    this.pending.push({ line, position, job });
    if (this.pending.length >= WINDOW) await this.next();
  }

  private async prepare(signed: SignedLedgerEntry): Promise<Prepared> {
    const ledger = await this.chain.prepare(signed);
    const event = ledger.entry?.event;
    if (event?.type === 'decision.accepted') {
      const parsed = DecisionAccepted.safeParse(event);
      if (!parsed.success) return { ledger };
      const { payload, thumbprintMatches } = await this.checkEnvelope(parsed.data);
      const facts = payload && readFacts(parsed.data.envelope, payload);
      return { ledger, decision: { event: parsed.data, verified: payload !== undefined, thumbprintMatches, facts } };
    }
    if (event?.type === 'deployment.decision.accepted') {
      const parsed = DeploymentDecisionAccepted.safeParse(event);
      if (!parsed.success) return { ledger };
      const { payload, thumbprintMatches } = await this.checkEnvelope(parsed.data);
      const facts = payload && readDeploymentFacts(parsed.data.envelope, payload);
      return { ledger, deploymentDecision: { event: parsed.data, verified: payload !== undefined, thumbprintMatches, facts } };
    }
    return { ledger };
  }

  /**
   * The approver's signature, against the key the entry says it was checked with (which key that should
   * have been is decided in order, when the entry is judged), and whether the key id is its thumbprint.
   * The schema has read the envelope with EnvelopeShape already.
   */
  private async checkEnvelope(event: { envelope: Envelope; publicKey: PublicJwk; keyId: string }): Promise<{ payload: Uint8Array<ArrayBuffer> | undefined; thumbprintMatches: boolean }> {
    const payload = await verifyReadEnvelopeEcdsa(event.envelope, event.publicKey, event.keyId, this.options.suite);
    const { x, y } = event.publicKey;
    let thumbprint = this.thumbprints.get(`${x}.${y}`);
    if (thumbprint === undefined) {
      thumbprint = await keyIdOf(event.publicKey);
      if (this.thumbprints.size < 4096) this.thumbprints.set(`${x}.${y}`, thumbprint);
    }
    return { payload, thumbprintMatches: thumbprint === event.keyId };
  }

  /** Judges the oldest pending entry. */
  private async next(): Promise<void> {
    const item = this.pending.shift();
    if (!item) return;
    const { line, position } = item;
    if (!item.job) {
      this.problem({ seq: position, line, code: 'NOT_JSON', message: `Entry ${position} (line ${line}) is not JSON; every line after the header is one ledger entry.` });
      this.chain.link({ storedHashMatches: false }, position - 1);
    } else {
      const prepared = await item.job;
      const found = this.chain.link(prepared.ledger, position - 1);
      for (const p of found.problems) {
        const seq = p.seq ?? position;
        // The ledger's own sentences do not all name the entry; every one here does.
        this.problem({ seq, line, code: p.code, message: p.message.startsWith(`Entry ${seq}`) ? p.message : `Entry ${seq}: ${p.message}` });
      }
      // The events of an entry that is not genuine are not evidence of anything: they are not read.
      if (found.entry && found.problems.length === 0) await this.judge(found.entry, line, prepared);
    }
    this.options.onProgress?.(++this.judged);
  }

  /** Judges what is still pending, checks the end of the bundle against its header, and reports. */
  async finish(): Promise<EvidenceReport> {
    while (this.pending.length) await this.next();
    const head = this.chain.last;
    if (this.index !== this.header.entries) {
      this.problem({ code: 'TRUNCATED', message: `The header says the bundle holds ${this.header.entries} entries but it holds ${this.index}; entries were added or removed.` });
    } else if (this.header.head && (head?.seq !== this.header.head.seq || head.hash !== this.header.head.hash)) {
      this.problem({ code: 'TRUNCATED', message: `The last entry is not the head the header names (seq ${this.header.head.seq}); the bundle was cut or extended.` });
    }
    // An entry that is not genuine is not read, so what the roster says of it would only be said again.
    for (const state of this.problems.length ? [] : this.roster.values()) {
      if (state.enrolledHere === undefined || state.enrolledHere > (head?.seq ?? 0)) continue;
      const enrolled = this.keys.get(revocationId(state.accountId, state.keyId))?.enrolled;
      if (enrolled !== state.enrolledHere) {
        this.problem({
          code: 'KEY_ROSTER',
          message: `The key roster says key ${state.keyId} of ${state.accountId} was enrolled at entry ${state.enrolledHere} of this ledger, but ${enrolled ? `it was enrolled at entry ${enrolled}` : 'no entry of the bundle enrols it'}.`,
        });
      }
    }
    const intact = this.problems.length === 0 && this.moreProblems === 0;
    const ok = intact && this.counts.flagged === 0;
    return {
      ok,
      format: EVIDENCE_FORMAT,
      version: this.header.version,
      ledger: this.header.ledger,
      appKeys: this.header.appKeys.map((k) => k.keyId),
      entries: this.index,
      ...(intact && head ? { head } : {}),
      counts: { ...this.counts },
      merges: [...this.merges],
      deployments: [...this.deploymentOutcomes],
      findings: [...this.findings],
      problems: [...this.problems],
      moreProblems: this.moreProblems,
      notices: [...this.notices],
    };
  }

  /**
   * Reads the header's key section: the roster under the app's signature, then each entry of another
   * ledger, checked on its own (payload hash, app signature, shape) and against what the roster names.
   */
  private async readKeys(keys: z.infer<typeof EvidenceKeys>): Promise<void> {
    const fail = (code: EvidenceProblemCode, message: string) => this.problem({ line: 1, code, message });
    const appKeys = new Map(this.header.appKeys.map((k) => [k.keyId, k.publicJwk] as const));
    const roster = this.roster;
    const opened = await openKeyRoster(keys.roster, appKeys, this.options.suite);
    if ('problem' in opened) {
      fail('KEY_ROSTER', `The bundle's key roster cannot be used: ${opened.problem} Keys enrolled or revoked in other ledgers are not checked.`);
      return;
    }
    const signed: KeyRoster = opened.roster;
    const head = this.header.head;
    if (signed.ledger !== this.header.ledger || signed.head?.seq !== head?.seq || signed.head?.hash !== head?.hash) {
      fail('KEY_ROSTER', `The key roster is of ledger ${signed.ledger} up to ${signed.head ? `entry ${signed.head.seq}` : 'no entry'}, not of this bundle's ledger up to its head: it belongs to another export.`);
      return;
    }
    const events = new Map<string, LedgerEntry>();
    for (const [i, value] of keys.events.entries()) {
      const which = `Key event ${i + 1} in the header`;
      const prepared = await prepareEntry(value as SignedLedgerEntry, appKeys, this.options.suite);
      if (!prepared.entry || !prepared.hash || !prepared.storedHashMatches || prepared.signature) {
        const why = prepared.signature?.message ?? (prepared.entry ? "Its stored hash is not the SHA-256 of its payload." : 'It is not a readable ledger envelope.');
        fail('KEY_EVENT', `${which} is not a genuine ledger entry: ${why}`);
        continue;
      }
      if (prepared.entry.ledger === this.header.ledger) {
        fail('KEY_EVENT', `${which} is entry ${prepared.entry.seq} of this ledger; the key section holds entries of other ledgers only.`);
        continue;
      }
      this.counts.keyEvents++;
      events.set(entryRefId({ ledger: prepared.entry.ledger, seq: prepared.entry.seq, hash: prepared.hash }), prepared.entry);
    }
    const named = new Set<string>();
    const take = (ref: EntryRef, what: string, key: { accountId: string; keyId: string }): LedgerEntry | undefined => {
      const id = entryRefId(ref);
      named.add(id);
      const entry = events.get(id);
      if (!entry) fail('KEY_EVENT_MISSING', `The key roster names entry ${ref.seq} of ledger ${ref.ledger} as the ${what} of key ${key.keyId} of ${key.accountId}, but the bundle does not carry that entry.`);
      return entry;
    };
    for (const key of signed.keys) {
      const state: RosterState = { accountId: key.accountId, keyId: key.keyId };
      roster.set(revocationId(key.accountId, key.keyId), state);
      if (key.enrolment?.ledger === this.header.ledger) state.enrolledHere = key.enrolment.seq;
      else if (key.enrolment) {
        const entry = take(key.enrolment, 'enrolment', key);
        const event = entry && KeyEnrolled.safeParse(entry.event);
        if (entry && event && (!event.success || event.data.accountId !== key.accountId || event.data.keyId !== key.keyId)) {
          fail('KEY_EVENT', `Entry ${entry.seq} of ledger ${entry.ledger}, which the key roster names as the enrolment of key ${key.keyId} of ${key.accountId}, is not that enrolment.`);
        } else if (entry && event?.success) {
          if ((await keyIdOf(event.data.publicKey)) !== key.keyId) fail('KEY_ID', `Entry ${entry.seq} of ledger ${entry.ledger} enrols key ${key.keyId}, which is not the RFC 7638 thumbprint of the public key it carries.`);
          else state.enrolledElsewhere = { publicKey: event.data.publicKey, at: Date.parse(entry.at), where: `entry ${entry.seq} of ledger ${entry.ledger}` };
        }
      }
      for (const revocation of key.revocations) {
        // A revocation whose entry is missing or wrong still holds as of the roster's word: failing open would bring the key back.
        let found = { at: Date.parse(revocation.revokedAt), where: 'the key roster (recorded before Countersign kept where)' };
        const entry = revocation.entry && take(revocation.entry, 'revocation', key);
        const event = entry && KeyRevoked.safeParse(entry.event);
        if (entry && event && (!event.success || event.data.accountId !== key.accountId || event.data.keyId !== key.keyId || event.data.scope !== 'everywhere')) {
          fail('KEY_EVENT', `Entry ${entry.seq} of ledger ${entry.ledger}, which the key roster names as a revocation of key ${key.keyId} of ${key.accountId} everywhere, is not that revocation.`);
        } else if (entry) found = { at: Date.parse(entry.at), where: `entry ${entry.seq} of ledger ${entry.ledger}` };
        if (!state.revokedElsewhere || found.at < state.revokedElsewhere.at) state.revokedElsewhere = found;
      }
    }
    for (const [id, entry] of events) {
      if (!named.has(id)) fail('KEY_EVENT', `Entry ${entry.seq} of ledger ${entry.ledger} is in the key section, but the key roster does not name it.`);
    }
  }

  private problem(problem: EvidenceProblem): void {
    if (this.problems.length < this.maxProblems) this.problems.push(problem);
    else this.moreProblems++;
  }

  private notice(notice: EvidenceNotice): void {
    if (this.notices.length < this.maxProblems) this.notices.push(notice);
  }

  /** What a genuine entry's event says, against the state the entries before it built. */
  private async judge(entry: LedgerEntry, line: number, prepared: Prepared): Promise<void> {
    const { seq } = entry;
    const fail = (code: EvidenceProblemCode, message: string) => this.problem({ seq, line, code, message });
    const schema = SCHEMAS[entry.event.type];
    if (!schema) {
      this.notice({ seq, line, code: 'UNKNOWN_EVENT', message: `Entry ${seq} is a ${JSON.stringify(entry.event.type)} event, which this verifier does not know; it is chained and signed, and not judged further.` });
      return;
    }
    // A decision was read when it was prepared; reading it again would cost as much as checking it.
    const read = prepared.decision?.event ?? prepared.deploymentDecision?.event;
    const parsed = read ? { success: true as const, data: read } : schema.safeParse(entry.event);
    if (!parsed.success) {
      fail('MALFORMED_EVENT', `Entry ${seq}'s ${entry.event.type} event is not well formed: ${z.prettifyError(parsed.error).split('\n').slice(0, 2).join(' ')}`);
      return;
    }
    const event = parsed.data as { type: string; subject?: { repository: string } };
    if (event.subject && event.subject.repository !== this.header.ledger) {
      fail('WRONG_REPOSITORY', `Entry ${seq} is about repository ${event.subject.repository}, not this ledger's ${this.header.ledger}.`);
      return;
    }
    switch (event.type) {
      case 'policy.saved':
        return this.policySaved(parsed.data as z.infer<typeof PolicySaved>, seq, fail);
      case 'key.enrolled':
        return this.keyEnrolled(parsed.data as z.infer<typeof KeyEnrolled>, seq, fail);
      case 'key.renamed':
        this.keyKnown(parsed.data as z.infer<typeof KeyRenamed>, seq, line, 'renamed');
        return;
      case 'key.revoked':
        return this.keyRevoked(parsed.data as z.infer<typeof KeyRevoked>, seq, line);
      case 'decision.accepted':
        return this.decisionAccepted(parsed.data as z.infer<typeof DecisionAccepted>, entry, line, fail, prepared.decision);
      case 'merge.recorded':
      case 'merge.bypassed':
        return this.mergeRecorded(parsed.data as z.infer<typeof MergeEvent>, entry, line, fail);
      case 'automerge.attempted':
      case 'automerge.failed':
        return this.autoMerge(parsed.data as z.infer<typeof AutoMerge>, entry);
      case 'deployment.decision.accepted':
        return this.deploymentDecisionAccepted(parsed.data as z.infer<typeof DeploymentDecisionAccepted>, entry, line, fail, prepared.deploymentDecision);
      case 'deployment.requested':
        return this.deploymentRequested(parsed.data as z.infer<typeof DeploymentRequested>, seq, fail);
      case 'deployment.allowed':
        return this.deploymentAllowed(parsed.data as z.infer<typeof DeploymentAllowed>, entry, fail);
      case 'deployment.reported':
        return this.deploymentReported(parsed.data as z.infer<typeof DeploymentReported>, entry, line, fail);
    }
  }

  private async policySaved(event: z.infer<typeof PolicySaved>, seq: number, fail: Fail): Promise<void> {
    const { policy } = event;
    this.counts.policies++;
    if (!(await hasIntactHash(policy))) {
      fail('POLICY_HASH', `Entry ${seq}'s policy version ${policy.version} does not hash to ${policy.hash}: its rules were changed after it was hashed.`);
      return;
    }
    const current = this.policy;
    const expected = current ? { version: current.version, hash: current.hash } : null;
    const follows = policy.version === (current?.version ?? 0) + 1;
    const previousMatches = JSON.stringify(event.previous) === JSON.stringify(expected);
    if (!follows || !previousMatches) {
      fail('POLICY_ORDER', `Entry ${seq} saves policy version ${policy.version} over ${event.previous ? `version ${event.previous.version}` : 'no policy'}, but the version in force was ${current ? `${current.version} (${current.hash})` : 'none'}.`);
    }
    this.policies.set(policy.hash, policy);
    this.policy = policy;
  }

  private async keyEnrolled(event: z.infer<typeof KeyEnrolled>, seq: number, fail: Fail): Promise<void> {
    this.counts.keys++;
    if ((await keyIdOf(event.publicKey)) !== event.keyId) {
      fail('KEY_ID', `Entry ${seq} enrols key ${event.keyId}, which is not the RFC 7638 thumbprint of the public key it carries.`);
      return;
    }
    const owner = this.keyOwner.get(event.keyId);
    if (owner !== undefined && owner !== event.accountId) {
      fail('KEY_CONFLICT', `Entry ${seq} enrols key ${event.keyId} for ${event.accountId}, but it already belongs to ${owner}.`);
      return;
    }
    const id = revocationId(event.accountId, event.keyId);
    if (!this.keys.has(id)) this.keys.set(id, { publicKey: event.publicKey, enrolled: seq });
    this.keyOwner.set(event.keyId, event.accountId);
  }

  private keyKnown(event: { accountId: string; keyId: string }, seq: number, line: number, what: string): KeyState | undefined {
    const id = revocationId(event.accountId, event.keyId);
    const key = this.keys.get(id);
    const rostered = this.roster.get(id);
    if (!key && !rostered?.enrolledElsewhere) {
      const why = rostered ? 'it was enrolled before Countersign kept which ledger an enrolment is in' : 'it was enrolled in another ledger and no decision here used it, so the key roster does not list it';
      this.notice({ seq, line, code: 'KEY_NOT_IN_BUNDLE', message: `Entry ${seq}: key ${event.keyId} of ${event.accountId} is ${what} here, but its enrolment is not in this bundle (${why}).` });
    }
    return key;
  }

  private keyRevoked(event: z.infer<typeof KeyRevoked>, seq: number, line: number): void {
    this.counts.revocations++;
    const id = revocationId(event.accountId, event.keyId);
    const key = this.keyKnown(event, seq, line, 'revoked');
    // Revocations in this repository's ledger hold here, whether made for it alone or everywhere.
    if (key) key.revoked ??= seq;
    else this.keys.set(id, { publicKey: { kty: 'EC', crv: 'P-256', x: '', y: '' }, enrolled: 0, revoked: seq });
  }

  /**
   * Whether the key a decision carries may sign it at its entry: enrolled (here, or in another ledger the
   * roster names) as that public key, not revoked before, and the approver's signature verifies with it.
   * One judgement for merge and deployment decisions alike.
   */
  private keyUsable(
    event: { signer: string; keyId: string; publicKey: PublicJwk },
    entry: LedgerEntry,
    line: number,
    fail: Fail,
    checked: { verified: boolean; thumbprintMatches: boolean },
  ): boolean {
    const { seq } = entry;
    const id = revocationId(event.signer, event.keyId);
    const key = this.keys.get(id);
    const rostered = this.roster.get(id);
    const at = Date.parse(entry.at);
    const elsewhere = rostered?.enrolledElsewhere;
    if ((!key || key.enrolled === 0) && elsewhere) {
      if (elsewhere.publicKey.x !== event.publicKey.x || elsewhere.publicKey.y !== event.publicKey.y) {
        fail('KEY_MISMATCH', `Entry ${seq}'s decision by ${event.signer} was checked against a public key other than the one enrolled as ${event.keyId} at ${elsewhere.where}.`);
        return false;
      }
      if (elsewhere.at - at > CROSS_LEDGER_SKEW_MS) {
        fail('KEY_TIME', `Entry ${seq} accepts a decision by ${event.signer} at ${entry.at}, signed with key ${event.keyId} before it was enrolled (${elsewhere.where}, at ${new Date(elsewhere.at).toISOString()}).`);
        return false;
      }
    } else if (!key || key.enrolled === 0) {
      if (!checked?.thumbprintMatches) {
        fail('KEY_ID', `Entry ${seq}'s decision names key ${event.keyId}, which is not the thumbprint of the public key it carries.`);
        return false;
      }
      if (!rostered) {
        fail('KEY_UNKNOWN', `Entry ${seq} accepts a decision by ${event.signer} signed with key ${event.keyId}, whose enrolment is neither in this ledger nor named by the key roster: nothing says the key was ever enrolled or not revoked.`);
        return false;
      }
      this.keyKnown({ accountId: event.signer, keyId: event.keyId }, seq, line, 'used');
    } else if (key.publicKey.x !== event.publicKey.x || key.publicKey.y !== event.publicKey.y) {
      fail('KEY_MISMATCH', `Entry ${seq}'s decision by ${event.signer} was checked against a public key other than the one enrolled as ${event.keyId} at entry ${key.enrolled}.`);
      return false;
    }
    if (key?.revoked !== undefined && key.revoked < seq) {
      fail('KEY_REVOKED', `Entry ${seq} accepts a decision by ${event.signer} signed with key ${event.keyId}, which was revoked at entry ${key.revoked}.`);
      return false;
    }
    const revokedElsewhere = rostered?.revokedElsewhere;
    if (revokedElsewhere && at - revokedElsewhere.at > CROSS_LEDGER_SKEW_MS) {
      fail('KEY_REVOKED', `Entry ${seq} accepts a decision by ${event.signer} at ${entry.at}, signed with key ${event.keyId}, which was revoked everywhere at ${new Date(revokedElsewhere.at).toISOString()} (${revokedElsewhere.where}).`);
      return false;
    }
    if (revokedElsewhere && at - revokedElsewhere.at > -CROSS_LEDGER_SKEW_MS) {
      this.notice({
        seq,
        line,
        code: 'KEY_REVOCATION_CLOSE',
        message: `Entry ${seq}: key ${event.keyId} of ${event.signer} was revoked everywhere at ${new Date(revokedElsewhere.at).toISOString()} (${revokedElsewhere.where}), within a minute of this decision at ${entry.at}; which came first cannot be told from two ledgers' times.`,
      });
    }
    if (!checked.verified) {
      fail('APPROVER_SIGNATURE', `Entry ${seq}: the approver's signature by ${event.signer} (key ${event.keyId}) does not verify over the statement it carries.`);
      return false;
    }
    return true;
  }

  private async decisionAccepted(event: z.infer<typeof DecisionAccepted>, entry: LedgerEntry, line: number, fail: Fail, checked: Prepared['decision']): Promise<void> {
    const { seq } = entry;
    this.counts.decisions++;
    if (!checked || !this.keyUsable(event, entry, line, fail, checked)) return;
    const facts = checked.facts;
    const s = event.subject;
    const matches =
      facts &&
      facts.signer === event.signer &&
      facts.keyId === event.keyId &&
      facts.decision === event.decision &&
      facts.subject.workspace === s.workspace &&
      facts.subject.repository === s.repository &&
      facts.subject.pullRequest === s.pullRequest &&
      facts.subject.commit === s.commit &&
      facts.subject.targetBranch === s.targetBranch;
    if (!facts || !matches) {
      fail('STATEMENT_MISMATCH', `Entry ${seq}: the signed statement does not say what the entry records (signer, key, decision or pull request differ).`);
      return;
    }
    if (!this.policy || facts.policy !== this.policy.hash) {
      const named = this.policies.get(facts.policy);
      fail(
        'POLICY_NOT_IN_FORCE',
        `Entry ${seq}: ${event.signer} signed under policy ${named ? `version ${named.version}` : facts.policy}, but the version in force when it was accepted was ${this.policy ? `${this.policy.version} (${this.policy.hash})` : 'none'}.`,
      );
      return;
    }
    if (!isTimely(facts.issuedAt, new Date(entry.at))) {
      fail('STATEMENT_TIME', `Entry ${seq}: the statement was issued at ${facts.issuedAt}, too far from its acceptance at ${entry.at}.`);
      return;
    }
    const record: ApprovalRecord = { decision: facts.decision, commit: s.commit, targetBranch: s.targetBranch, policy: facts.policy, keyId: facts.keyId, issuedAt: facts.issuedAt, seq, entry: seq };
    let pr = this.decisions.get(s.pullRequest);
    if (!pr) this.decisions.set(s.pullRequest, (pr = new Map()));
    pr.set(event.signer, { record });
  }

  private deploymentDecisionAccepted(event: z.infer<typeof DeploymentDecisionAccepted>, entry: LedgerEntry, line: number, fail: Fail, checked: Prepared['deploymentDecision']): void {
    const { seq } = entry;
    this.counts.deploymentDecisions++;
    if (!checked || !this.keyUsable(event, entry, line, fail, checked)) return;
    const facts = checked.facts;
    const s = event.subject;
    const matches =
      facts &&
      facts.signer === event.signer &&
      facts.keyId === event.keyId &&
      facts.decision === event.decision &&
      facts.subject.workspace === s.workspace &&
      facts.subject.repository === s.repository &&
      facts.subject.environment === s.environment &&
      facts.subject.commit === s.commit;
    if (!facts || !matches) {
      fail('STATEMENT_MISMATCH', `Entry ${seq}: the signed deployment statement does not say what the entry records (signer, key, decision, environment or commit differ).`);
      return;
    }
    // The deployments page signs under the version it shows; any version this ledger saved before is one a signer could have seen.
    if (!this.policies.has(facts.policy)) {
      fail('POLICY_NOT_IN_FORCE', `Entry ${seq}: ${event.signer} signed the deployment of ${shortCommit(s.commit)} under policy ${facts.policy}, which no earlier entry of this ledger saved.`);
      return;
    }
    if (!isTimely(facts.issuedAt, new Date(entry.at))) {
      fail('STATEMENT_TIME', `Entry ${seq}: the deployment statement was issued at ${facts.issuedAt}, too far from its acceptance at ${entry.at}.`);
      return;
    }
    const record: DeploymentApprovalRecord = { decision: facts.decision, commit: s.commit, environment: s.environment, policy: facts.policy, keyId: facts.keyId, issuedAt: facts.issuedAt, seq, entry: seq };
    const id = deploymentId(s);
    let decided = this.deploymentDecisions.get(id);
    if (!decided) this.deploymentDecisions.set(id, (decided = new Map()));
    decided.set(event.signer, { record });
  }

  private deploymentRequested(event: z.infer<typeof DeploymentRequested>, seq: number, fail: Fail): void {
    const { request, subject } = event;
    if (request.commit !== subject.commit || request.environment !== subject.environment || request.id !== deploymentId(subject)) {
      fail('MALFORMED_EVENT', `Entry ${seq}'s deployment request names environment ${request.environment} and commit ${shortCommit(request.commit)}, not the deployment the entry is about.`);
    }
  }

  /**
   * A gate's yes, re-run offline: the policy in force, the facts it recorded and the decisions in force
   * for this environment and commit (revocations as of this entry) must allow it with the core's own
   * `evaluateDeployment`; what it counted must be those decisions; and where the environment asks for a
   * merged pull request, a counted merge earlier in the ledger must have written this very commit.
   */
  private deploymentAllowed(event: z.infer<typeof DeploymentAllowed>, entry: LedgerEntry, fail: Fail): void {
    const { seq } = entry;
    const { subject, verdict } = event;
    this.counts.deployments++;
    const id = deploymentId(subject);
    this.allowedDeployments.add(allowedKey(id, event.pipeline));
    const outcome: Extract<DeploymentOutcome, { type: 'deployment.allowed' }> = { seq, type: 'deployment.allowed', environment: subject.environment, commit: subject.commit, reproduced: false, chain: 'not-required' };
    if (this.deploymentOutcomes.length < this.maxProblems) this.deploymentOutcomes.push(outcome);
    const where = `Entry ${seq} (deployment.allowed, ${shortCommit(subject.commit)} to ${verdict.facts.environment.name ?? subject.environment})`;

    const facts = verdict.facts;
    if (facts.commit !== subject.commit || facts.environment.uuid !== subject.environment) {
      fail('DEPLOY_VERDICT', `${where}: the facts it judged on are about environment ${facts.environment.uuid} and commit ${shortCommit(facts.commit)}, not this deployment.`);
      return;
    }
    const policy = this.policy;
    if ((verdict.policy?.hash ?? null) !== (policy?.hash ?? null) || (verdict.policy?.version ?? null) !== (policy?.version ?? null)) {
      fail('DEPLOY_VERDICT', `${where}: the gate judged under ${verdict.policy ? `policy version ${verdict.policy.version}` : 'no policy'}, but the version in force was ${policy ? `${policy.version} (${policy.hash})` : 'none'}.`);
      return;
    }

    const environmentPolicy = environmentPolicyFor(policy?.environments, subject.environment);
    if (facts.merge || environmentPolicy?.requireMergedPullRequest) {
      const merged = this.mergedCommits.get(subject.commit);
      const claimed = facts.merge;
      const problem = !claimed
        ? `the environment requires a merged pull request, but the gate recorded none for ${shortCommit(subject.commit)}`
        : !merged
          ? `it relies on pull request #${claimed.pullRequest} having merged ${shortCommit(subject.commit)}, but no earlier merge in this ledger wrote that commit`
          : merged.pullRequest !== claimed.pullRequest || (claimed.entry !== undefined && claimed.entry !== merged.seq)
            ? `it relies on pull request #${claimed.pullRequest}${claimed.entry !== undefined ? ` (entry ${claimed.entry})` : ''}, but the merge that stands for ${shortCommit(subject.commit)} is pull request #${merged.pullRequest} at entry ${merged.seq}`
            : environmentPolicy?.requireMergedPullRequest && !merged.counted
              ? `the merge that wrote ${shortCommit(subject.commit)} (entry ${merged.seq}, pull request #${merged.pullRequest}) was bypassed, not gated or not reproduced, so it does not meet the requirement`
              : claimed.gated !== merged.gated || claimed.pass !== merged.pass
                ? `it records the merge of pull request #${claimed.pullRequest} as ${claimed.pass ? 'meeting' : 'not meeting'} its quorum, but the ledger's merge at entry ${merged.seq} says otherwise`
                : !sameMergeFacts(claimed, merged)
                  ? `it records pull request #${claimed.pullRequest}'s target branch, authors or merger otherwise than the ledger's merge at entry ${merged.seq}`
                  : undefined;
      if (problem) {
        outcome.chain = 'broken';
        fail('DEPLOY_CHAIN', `${where}: the merge -> deploy chain is broken: ${problem}.`);
        return;
      }
      if (environmentPolicy?.requireMergedPullRequest) outcome.chain = 'met';
    }

    // Judged on the merge the ledger says stands for the commit (the store's index holds the same one), not on the facts' word for it.
    const ledgerMerge = this.mergedCommits.get(subject.commit);
    const { merge: _claimedMerge, ...rest } = facts as DeploymentFacts;
    const judged: DeploymentFacts = { ...rest, ...(ledgerMerge ? { merge: deploymentMergeFacts(ledgerMerge) } : {}) };
    const decided = this.deploymentDecisions.get(id) ?? new Map<string, StoredDeploymentDecision>();
    const at = Date.parse(entry.at);
    const rerun = (margin: number) => {
      const revoked = {
        has: (key: string) => {
          if ((this.keys.get(key)?.revoked ?? Number.POSITIVE_INFINITY) < seq) return true;
          const elsewhere = this.roster.get(key)?.revokedElsewhere;
          return elsewhere !== undefined && at - elsewhere.at > margin;
        },
      };
      const approvals: CheckedDeploymentApproval[] = [...decided].map(([signer, d]) => checkedDeploymentApproval(signer, d.record, revoked));
      return evaluateDeployment({ policy, facts: judged, approvals });
    };
    // A revocation elsewhere within the skew of this entry may or may not have counted then: it is given the benefit of the doubt.
    const gate = rerun(CROSS_LEDGER_SKEW_MS);
    if (gate.gated !== verdict.gated || !gate.pass) {
      fail('DEPLOY_VERDICT', `${where}: the gate said yes, but re-running it over the bundle's deployment decisions, revocations and policy says no: ${gate.message}`);
      return;
    }
    const approvedBy = new Set(gate.approvedBy);
    for (const c of verdict.counted) {
      const latest = decided.get(c.signer)?.record;
      const same = latest && c.entry !== null && latest.entry === c.entry && latest.keyId === c.keyId && latest.decision === c.decision && (c.decision === 'reject' || approvedBy.has(c.signer));
      if (!same) {
        fail(
          'DEPLOY_COUNTED',
          `${where}: it counts a decision by ${c.signer}${c.entry !== null ? ` (entry ${c.entry})` : ''} that is not an earlier accepted decision in force for this environment and commit, or does not count when the gate is re-run.`,
        );
        return;
      }
    }
    outcome.reproduced = true;
  }

  /**
   * Bitbucket's word on a deployment: a flagged one is a finding (a control that failed, told truthfully),
   * and what the report says of the gate must agree with the ledger's allowances before it.
   */
  private deploymentReported(event: z.infer<typeof DeploymentReported>, entry: LedgerEntry, line: number, fail: Fail): void {
    const { seq } = entry;
    const { subject } = event;
    this.counts.deploymentReports++;
    const name = environmentPolicyFor(this.policy?.environments, subject.environment)?.name ?? subject.environment;
    if (this.deploymentOutcomes.length < this.maxProblems) {
      this.deploymentOutcomes.push({
        seq,
        type: 'deployment.reported',
        environment: subject.environment,
        commit: subject.commit,
        state: event.state,
        ...(event.outcome !== undefined ? { outcome: event.outcome } : {}),
        allowed: event.allowed,
        flagged: event.flagged,
      });
    }
    const where = `Entry ${seq} (deployment.reported, ${shortCommit(subject.commit)} to ${name} ${event.state})`;
    // A report names no pipeline only if it was made before reports did; then no allowance can be its own.
    const allowedBefore = event.pipeline !== undefined && this.allowedDeployments.has(allowedKey(deploymentId(subject), event.pipeline));
    if (event.allowed && !allowedBefore) {
      fail('DEPLOY_REPORT', `${where} says the gate had allowed this deployment, but no earlier deployment.allowed entry of this ledger allows ${event.pipeline ? `pipeline ${event.pipeline}` : 'its pipeline'} to deploy ${shortCommit(subject.commit)} to ${name}.`);
    } else if (event.flagged && event.allowed) {
      fail('DEPLOY_REPORT', `${where} is flagged as running without the gate's yes, yet says the gate had allowed it.`);
    } else if (!event.allowed && allowedBefore && event.state === 'completed') {
      // Only `completed` is held to this: a `started` report may be read while the gate, inside that very step, is answering.
      fail('DEPLOY_REPORT', `${where} says the gate had not allowed this deployment, but an earlier deployment.allowed entry of this ledger allows its pipeline ${event.pipeline}.`);
    } else if (!event.flagged && deploymentFlagged({ policy: this.policy, environment: subject.environment, state: event.state, outcome: event.outcome, allowed: event.allowed })) {
      fail('DEPLOY_REPORT', `${where} completed${event.outcome ? ` (${event.outcome})` : ''} in an environment policy version ${this.policy?.version} gates, without the gate's yes, but is not flagged.`);
    }
    if (event.flagged) {
      this.counts.flagged++;
      const finding: EvidenceFinding = {
        seq,
        line,
        code: 'DEPLOYMENT_FLAGGED',
        message: `${where}: commit ${shortCommit(subject.commit)} was deployed to ${name}${event.outcome ? ` (${event.outcome})` : ''} without Countersign's approval${event.pipeline ? ` by pipeline ${event.pipeline}` : ''}${event.deployment ? `, deployment ${event.deployment}` : ''}. Find out who ran it and why.`,
      };
      if (this.findings.length < this.maxProblems) this.findings.push(finding);
    }
  }

  private autoMerge(event: z.infer<typeof AutoMerge>, entry: LedgerEntry): void {
    if (event.type !== 'automerge.attempted') return;
    this.counts.autoMerges++;
    this.claims.set(event.subject.pullRequest, { asOf: entry.seq, at: Date.parse(entry.at), policy: this.policy, decisions: new Map(this.decisions.get(event.subject.pullRequest)) });
  }

  private mergeRecorded(event: z.infer<typeof MergeEvent>, entry: LedgerEntry, line: number, fail: Fail): void {
    const { seq } = entry;
    const pullRequest = event.subject.pullRequest;
    this.counts.merges++;
    const current: Snapshot = { asOf: seq, at: Date.parse(entry.at), policy: this.policy, decisions: this.decisions.get(pullRequest) ?? new Map() };
    const claim = event.mergedBy === 'countersign' ? this.claims.get(pullRequest) : undefined;
    const outcome: MergeOutcome = { seq, type: event.type, pullRequest, commit: event.facts.headCommit, pass: event.verdict.pass, reproduced: false };
    // Listed up to `maxProblems` (counted in full), so the report stays small however long the ledger.
    if (this.merges.length < this.maxProblems) this.merges.push(outcome);
    this.decisions.delete(pullRequest);
    this.claims.delete(pullRequest);
    // Counted only once its verdict is reproduced, below.
    const merged: MergedCommitState | undefined = event.mergeCommit
      ? {
          seq,
          pullRequest,
          gated: event.verdict.gated,
          pass: event.verdict.pass,
          ...(event.merger ? { merger: event.merger } : {}),
          author: event.facts.author,
          commitAuthors: [...event.facts.commitAuthors].sort(),
          targetBranch: event.facts.targetBranch,
          counted: false,
        }
      : undefined;
    // The merge that stands for the commit, by the store's own rule (a later one may not displace it).
    if (merged) this.mergedCommits.set(event.mergeCommit!, mergeToKeep(this.mergedCommits.get(event.mergeCommit!), merged));

    if (event.bypassed !== (event.verdict.gated && !event.verdict.pass) || (event.type === 'merge.bypassed') !== event.bypassed) {
      fail('MERGE_VERDICT', `Entry ${seq} is a ${event.type} whose verdict (gated ${event.verdict.gated}, pass ${event.verdict.pass}, bypassed ${event.bypassed}) contradicts itself.`);
      return;
    }
    // The gate is read before the merge; an auto-merge, before its claim. A decision accepted in between
    // may be in the ledger ahead of the record but not in the verdict, so both points are tried.
    // A key revoked elsewhere within a minute of the point may or may not have counted then: both are tried.
    const first = this.rerun(event, current, false);
    let agreed = first.problem === undefined ? first : undefined;
    const others: [Snapshot, boolean][] = [];
    if (this.closeRevocations(current)) others.push([current, true]);
    if (claim) others.push([claim, false], ...(this.closeRevocations(claim) ? [[claim, true] as [Snapshot, boolean]] : []));
    for (const [point, close] of others) {
      if (agreed) break;
      const tried = this.rerun(event, point, close);
      if (tried.problem === undefined) agreed = tried;
    }
    if (!agreed) {
      fail(first.code!, `Entry ${seq} (${event.type}, pull request #${pullRequest}): ${first.problem}`);
      return;
    }
    outcome.reproduced = true;
    if (merged) merged.counted = event.type === 'merge.recorded' && event.verdict.gated && event.verdict.pass;
    if (event.type === 'merge.bypassed') {
      this.counts.bypassed++;
      this.notice({ seq, line, code: 'MERGE_BYPASSED', message: `Entry ${seq}: pull request #${pullRequest} was merged at ${event.facts.headCommit.slice(0, 7)} while the gate said no (${agreed.message}).` });
    }
  }

  /** Re-runs the quorum as of `snapshot` with the core's own functions; says how it disagrees with the record, if it does. */
  /** Whether a signer of the point's decisions has a key revoked elsewhere within `CROSS_LEDGER_SKEW_MS` of it. */
  private closeRevocations(point: Snapshot): boolean {
    if (!this.roster.size) return false;
    for (const [signer, d] of point.decisions) {
      const revoked = this.roster.get(revocationId(signer, d.record.keyId))?.revokedElsewhere;
      if (revoked && Math.abs(point.at - revoked.at) <= CROSS_LEDGER_SKEW_MS) return true;
    }
    return false;
  }

  /**
   * Re-runs the quorum as of `snapshot` with the core's own functions; says how it disagrees with the
   * record, if it does. A key revoked in another ledger counts as revoked once its revocation is more
   * than the skew before the point, or (`close`) once it is no more than the skew after it.
   */
  private rerun(event: z.infer<typeof MergeEvent>, snapshot: Snapshot, close: boolean): { problem?: string; code?: EvidenceProblemCode; message: string } {
    const { policy } = snapshot;
    const recordedPolicy = event.verdict.policy;
    if ((recordedPolicy?.hash ?? null) !== (policy?.hash ?? null) || (recordedPolicy?.version ?? null) !== (policy?.version ?? null)) {
      return {
        code: 'MERGE_POLICY',
        message: '',
        problem: `the merge was judged under ${recordedPolicy ? `policy version ${recordedPolicy.version} (${recordedPolicy.hash})` : 'no policy'}, but the version in force was ${policy ? `${policy.version} (${policy.hash})` : 'none'}.`,
      };
    }
    const asOf = snapshot.asOf;
    const margin = close ? -CROSS_LEDGER_SKEW_MS : CROSS_LEDGER_SKEW_MS;
    const revokedElsewhere = (id: string) => {
      const revoked = this.roster.get(id)?.revokedElsewhere;
      return revoked !== undefined && snapshot.at - revoked.at > margin;
    };
    const revoked = { has: (id: string) => (this.keys.get(id)?.revoked ?? Number.POSITIVE_INFINITY) < asOf || revokedElsewhere(id) };
    const approvals: CheckedApproval[] = [...snapshot.decisions].map(([signer, d]) => checkedApproval(signer, d.record, revoked));
    const { subject, facts } = event;
    const pr = {
      workspace: subject.workspace,
      repository: subject.repository,
      id: subject.pullRequest,
      title: '',
      state: 'MERGED' as const,
      author: facts.author,
      sourceBranch: facts.sourceBranch,
      targetBranch: facts.targetBranch,
      headCommit: facts.headCommit,
      commitAuthors: facts.commitAuthors,
      names: {},
    };
    const verdict = evaluateQuorum({ policy, pr, approvals });
    if (verdict.gated !== event.verdict.gated || verdict.pass !== event.verdict.pass) {
      const said = (gated: boolean, pass: boolean) => (!gated ? 'not gated' : pass ? 'met' : 'not met');
      return {
        code: 'MERGE_VERDICT',
        message: verdict.message,
        problem: `the record says the quorum was ${said(event.verdict.gated, event.verdict.pass)}, but re-running it over the bundle's decisions, revocations and policy says ${said(verdict.gated, verdict.pass)}: ${verdict.message}`,
      };
    }
    const counted = new Set(verdict.rules.flatMap((rule) => rule.requirements.flatMap((r) => r.counted)));
    for (const c of event.counted) {
      const latest = snapshot.decisions.get(c.signer)?.record;
      const same = latest && counted.has(c.signer) && latest.keyId === c.keyId && latest.decision === c.decision && latest.commit === c.commit && latest.policy === c.policy && (c.entry === null || c.entry === latest.entry);
      if (!same) {
        return {
          code: 'MERGE_COUNTED',
          message: verdict.message,
          problem: `it counts a decision by ${c.signer}${c.entry !== null ? ` (entry ${c.entry})` : ''} that is not their decision in force, or does not count, when the quorum is re-run.`,
        };
      }
    }
    return { message: verdict.message };
  }
}

type Fail = (code: EvidenceProblemCode, message: string) => void;

/** Verifies a whole bundle from its lines (any iterable, so a file can be streamed); undefined header → `error`. */
export async function verifyEvidence(lines: AsyncIterable<string> | Iterable<string>, options: EvidenceOptions = {}): Promise<EvidenceReport | { error: string }> {
  let verifier: EvidenceVerifier | undefined;
  for await (const line of lines) {
    if (!verifier) {
      const opened = await EvidenceVerifier.open(line, options);
      if (!(opened instanceof EvidenceVerifier)) return opened;
      verifier = opened;
    } else {
      await verifier.add(line);
    }
  }
  if (!verifier) return { error: 'The bundle is empty; an evidence bundle starts with its header line.' };
  return await verifier.finish();
}

/** One pipeline's allowance for one deployment, however its UUID is written (with or without braces, in any case). */
function allowedKey(deployment: string, pipeline: string): string {
  return `${deployment} ${bareUuid(pipeline).toLowerCase()}`;
}
