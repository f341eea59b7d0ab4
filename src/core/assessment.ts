import * as z from 'zod/mini';
import type { Envelope } from './dsse';
import { verifyEnvelopeEcdsa } from './dsseVerify';
import { CountersignError, PolicyError, RequestError, VerificationError } from './errors';
import { BranchName, FullCommitHash, KeyId, UtcTimestamp } from './formats';
import { MAX_DISPLAY_NAME } from './names';
import { shortCommit } from './subject';
import { rulesFor, type Policy, type Rule } from './policy';
import type { PullRequestFacts } from './pullRequest';
import { ChallengeRecord, revocationId, type KeyRecord } from './records';
import type { Decision, DecisionFacts } from './statement';
import { DecisionSchema, readFacts } from './statementSchema';

/**
 * Everything that can keep a decision from counting, as one closed set. The same functions decide it
 * at submission (which refuses on the first finding), at merge time and on the PR card (which list
 * them), and in the offline verifier.
 */
export type Finding =
  | 'wrong-signer'
  | 'unknown-key'
  | 'revoked-key'
  | 'bad-signature'
  | 'statement-time'
  | 'wrong-workspace'
  | 'wrong-repository'
  | 'wrong-pull-request'
  | 'not-open'
  | 'stale'
  | 'retargeted'
  | 'policy-changed'
  | 'not-gated'
  | 'not-eligible'
  | 'author'
  | 'commit-author';

/** How far a statement's `issuedAt` may sit from the server's clock at submission. */
const MAX_AGE_MS = 10 * 60_000;
const MAX_SKEW_MS = 2 * 60_000;

/** What Bitbucket and storage say now, against which a decision is judged. */
export interface Standing {
  pr: PullRequestFacts;
  policy: Policy | undefined;
  /** (account, key) pairs revoked where the decision applies; see `revocationId`. */
  revokedKeys: Pick<ReadonlySet<string>, 'has'>;
}

// ——— Rule level: separation of duties and eligibility, written once ———

/** Why `signer` cannot count under `rule` on this pull request, if they cannot. */
export function ruleFinding(signer: string, rule: Rule, pr: PullRequestFacts): 'not-eligible' | 'author' | 'commit-author' | undefined {
  if (!rule.requirements.some((r) => r.members.includes(signer))) return 'not-eligible';
  if (rule.excludeAuthor && signer === pr.author) return 'author';
  if (rule.excludeCommitAuthors && pr.commitAuthors.includes(signer)) return 'commit-author';
  return undefined;
}

export type Eligibility = 'eligible' | 'not-gated' | 'not-eligible' | 'author' | 'commit-author';

/** Whether `accountId`'s decision could count toward some rule gating this pull request, and if not, the most telling reason. */
export function eligibilityOf(policy: Policy | undefined, pr: PullRequestFacts, accountId: string): Eligibility {
  const rules = rulesFor(policy, pr.targetBranch);
  if (rules.length === 0) return 'not-gated';
  const findings = rules.map((rule) => ruleFinding(accountId, rule, pr));
  if (findings.includes(undefined)) return 'eligible';
  return findings.includes('author') ? 'author' : findings.includes('commit-author') ? 'commit-author' : 'not-eligible';
}

// ——— Decision level ———

/** A stored decision in force, as the merge check and the card judge it. */
export interface CheckedApproval {
  signer: string;
  keyId: string;
  decision: Decision;
  commit: string;
  targetBranch: string;
  policy: string;
  issuedAt: string;
  /** Server order of acceptance: of one signer's statements, the highest is in force. */
  seq: number;
  /** A finding that holds whatever the rule: the key was revoked. */
  problem?: 'revoked-key';
  /** The signer's display name as Bitbucket gave it, asked as the signer, when the decision was accepted. */
  signerName?: string;
}

/** What storage keeps of a decision in force (the envelope itself is in the ledger). */
export const ApprovalRecord = z.strictObject({
  decision: DecisionSchema,
  commit: FullCommitHash,
  targetBranch: BranchName,
  policy: z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/)),
  keyId: KeyId,
  issuedAt: UtcTimestamp,
  seq: z.int().check(z.positive()),
  /** The ledger entry that holds the signed envelope. */
  entry: z.int().check(z.positive()),
  /**
   * The signer's display name, read from Bitbucket as the signer when the decision was accepted (never
   * one a browser sent), so the merge check can name people who are not participants. Optional: records
   * written before it was kept have none.
   */
  signerName: z.optional(z.string().check(z.minLength(1), z.maxLength(MAX_DISPLAY_NAME))),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

export function checkedApproval(signer: string, record: ApprovalRecord, revokedKeys: Standing['revokedKeys']): CheckedApproval {
  const { entry: _entry, ...fields } = record;
  const checked: CheckedApproval = { signer, ...fields };
  if (revokedKeys.has(revocationId(signer, record.keyId))) checked.problem = 'revoked-key';
  return checked;
}

/** The findings that can hold against a decision already stored. */
export type StandingFinding = Extract<Finding, 'revoked-key' | 'not-eligible' | 'author' | 'commit-author' | 'stale' | 'retargeted'>;

/** Why a checked approval does not count under `rule` now, in the order a person would want to hear it. */
export function standingFinding(approval: CheckedApproval, rule: Rule, pr: PullRequestFacts): StandingFinding | undefined {
  if (approval.problem) return approval.problem;
  const excluded = ruleFinding(approval.signer, rule, pr);
  if (excluded) return excluded;
  if (approval.commit !== pr.headCommit) return 'stale';
  if (approval.targetBranch !== pr.targetBranch) return 'retargeted';
  return undefined;
}

// ——— Submission: every check, refusing on the first ———

export interface Submission extends Standing {
  caller: string;
  workspace: string;
  repository: string;
  pullRequest: number;
  /** The caller's key named by the statement, if enrolled. */
  key: KeyRecord | undefined;
  now: Date;
}

/**
 * Checks a submitted envelope and the facts read from it against who is calling and what Bitbucket
 * and storage say now, in order: who signed → where it applies → which key → signature (over the exact bytes)
 * → freshness → what was signed → eligibility. Throws the first finding.
 */
export async function assessSubmission(envelope: Envelope, facts: DecisionFacts, ctx: Submission): Promise<void> {
  const before = [checkSigner, checkScope, checkKey].map((check) => check(facts, ctx)).find(Boolean);
  if (before) throw refusal(before, facts, ctx);
  const key = ctx.key!;
  if (!(await verifyEnvelopeEcdsa(envelope, key.publicKey, key.keyId))) throw refusal('bad-signature', facts, ctx);
  const after = [checkTime, checkPullRequest, checkEligibility].map((check) => check(facts, ctx)).find(Boolean);
  if (after) throw refusal(after, facts, ctx);
}

/** The decision an envelope carries, read once from its exact payload bytes; INVALID_INPUT if it carries none. */
export function submittedFacts(envelope: Envelope): DecisionFacts {
  const facts = readFacts(envelope);
  if (!facts) throw new RequestError('INVALID_INPUT', 'The envelope does not carry a Countersign decision statement (in-toto Statement v1); nothing was stored.');
  return facts;
}

type Check = (facts: DecisionFacts, ctx: Submission) => Finding | undefined;

const checkSigner: Check = (facts, ctx) => (facts.signer !== ctx.caller ? 'wrong-signer' : undefined);

const checkScope: Check = ({ subject }, ctx) =>
  subject.workspace !== ctx.workspace
    ? 'wrong-workspace'
    : subject.repository !== ctx.repository
      ? 'wrong-repository'
      : subject.pullRequest !== ctx.pullRequest
        ? 'wrong-pull-request'
        : undefined;

const checkKey: Check = (facts, ctx) => {
  if (!ctx.key || ctx.key.keyId !== facts.keyId || ctx.key.accountId !== ctx.caller) return 'unknown-key';
  return ctx.revokedKeys.has(revocationId(ctx.caller, facts.keyId)) ? 'revoked-key' : undefined;
};

/** Whether a statement issued at `issuedAt` may be accepted at `now`: at most 10 minutes old, at most 2 minutes ahead. */
export function isTimely(issuedAt: string, now: Date): boolean {
  const age = now.getTime() - Date.parse(issuedAt);
  return !(age > MAX_AGE_MS || age < -MAX_SKEW_MS);
}

const checkTime: Check = (facts, ctx) => (isTimely(facts.issuedAt, ctx.now) ? undefined : 'statement-time');

const checkPullRequest: Check = ({ subject, policy }, ctx) => {
  if (ctx.pr.state !== 'OPEN') return 'not-open';
  if (subject.commit !== ctx.pr.headCommit) return 'stale';
  if (subject.targetBranch !== ctx.pr.targetBranch) return 'retargeted';
  return !ctx.policy || policy !== ctx.policy.hash ? 'policy-changed' : undefined;
};

const checkEligibility: Check = (facts, ctx) => {
  const eligibility = eligibilityOf(ctx.policy, ctx.pr, ctx.caller);
  return eligibility === 'eligible' ? undefined : eligibility;
};

/** The refusal a finding becomes at submission: a code and a sentence a person can act on. */
export function refusal(finding: Finding, facts: DecisionFacts, ctx: Submission): CountersignError {
  const { subject } = facts;
  switch (finding) {
    case 'wrong-signer':
      return new VerificationError('WRONG_SIGNER', 'The statement names another person as signer; you can only sign as yourself.');
    case 'wrong-workspace':
      return new VerificationError('WRONG_WORKSPACE', 'The statement is for another workspace.');
    case 'wrong-repository':
      return new VerificationError('WRONG_REPOSITORY', 'The statement is for another repository.');
    case 'wrong-pull-request':
      return new VerificationError('WRONG_PULL_REQUEST', `The statement is for pull request #${subject.pullRequest}, not #${ctx.pullRequest}.`);
    case 'unknown-key':
      return new VerificationError('UNKNOWN_KEY', 'That signing key is not enrolled to your account; enrol this device first.');
    case 'revoked-key':
      return new VerificationError('KEY_REVOKED', `The key "${ctx.key?.label ?? facts.keyId}" was revoked; enrol a new key on this device to sign.`);
    case 'bad-signature':
      return new VerificationError('BAD_SIGNATURE', 'The signature does not verify against your enrolled key; nothing was stored.');
    case 'statement-time':
      return new VerificationError('STATEMENT_TIME', 'The statement time is too far from the server clock; check your device clock and sign again.');
    case 'not-open':
      return new PolicyError('PR_NOT_OPEN', `This pull request is ${ctx.pr.state.toLowerCase()}; only open pull requests can be signed.`);
    case 'stale':
      return new VerificationError(
        'WRONG_COMMIT',
        `You signed commit ${shortCommit(subject.commit)} but the pull request is now at ${shortCommit(ctx.pr.headCommit)}; review the new commit and sign again.`,
      );
    case 'retargeted':
      return new VerificationError('WRONG_TARGET', `You signed for target branch "${subject.targetBranch}" but the pull request now targets "${ctx.pr.targetBranch}".`);
    case 'policy-changed':
      return new VerificationError('POLICY_CHANGED', 'The repository policy changed while you were signing; reload and sign again.');
    case 'not-gated':
      return new PolicyError('NOT_GATED', `No rule covers the target branch "${ctx.pr.targetBranch}", so there is nothing to sign.`);
    case 'not-eligible':
      return new PolicyError('NOT_ELIGIBLE', 'You are not in any approver group for this branch, so your signature would not count.');
    case 'author':
      return new PolicyError('SELF_APPROVAL', 'You opened this pull request; the policy does not let authors approve their own changes.');
    case 'commit-author':
      return new PolicyError('COMMIT_AUTHOR', 'You authored commits in this pull request; the policy does not let commit authors approve it.');
  }
}

// ——— Challenges ———

/** Who may use a challenge, and when: all of it must hold at the moment it is consumed. */
export interface ChallengeClaim {
  accountId: string;
  workspace: string;
  repository: string;
  /** Exactly one of these: the pull request or the deployment (`deploymentId`) the challenge is for. */
  pullRequest?: number;
  deployment?: string;
  now: Date;
}

/** Why a stored challenge cannot be consumed by this claim now; undefined when it can. */
function challengeRefusal(found: unknown, claim: ChallengeClaim): VerificationError | undefined {
  const parsed = ChallengeRecord.safeParse(found);
  if (!parsed.success) return new VerificationError('CHALLENGE_INVALID', 'The signing challenge is unknown; reload the card and sign again.');
  const record = parsed.data;
  const mine = record.accountId === claim.accountId && record.workspace === claim.workspace && record.repository === claim.repository && record.pullRequest === claim.pullRequest && record.deployment === claim.deployment;
  if (!mine) return new VerificationError('CHALLENGE_INVALID', 'The signing challenge was issued to someone else or for another pull request or deployment.');
  if (record.consumed) return new VerificationError('CHALLENGE_USED', 'This signing challenge was already used; each signature needs a fresh one. Reload and sign again.');
  if (Date.parse(record.expiresAt) <= claim.now.getTime()) return new VerificationError('CHALLENGE_EXPIRED', 'The signing challenge expired; reload the card and sign again.');
  return undefined;
}

/** Whether a stored challenge may be consumed by this claim now. */
export function isUsableChallenge(found: unknown, claim: ChallengeClaim): boolean {
  return challengeRefusal(found, claim) === undefined;
}

/** Explains why a challenge could not be consumed, from what storage held. Always throws. */
export function explainRefusedChallenge(found: unknown, claim: ChallengeClaim): never {
  throw challengeRefusal(found, claim) ?? new VerificationError('CHALLENGE_INVALID', 'The signing challenge could not be used; reload the card and sign again.');
}
