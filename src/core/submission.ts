import { PolicyError, VerificationError } from './errors';
import { shortCommit } from './formats';
import { rulesFor, type Policy } from './policy';
import type { PullRequestFacts } from './pullRequest';
import { ChallengeRecord, revocationId, type KeyRecord } from './records';
import { hasValidSignature, type SignedStatement } from './statement';

/** How far a statement's `issuedAt` may sit from the server's clock. */
const MAX_AGE_MS = 10 * 60_000;
const MAX_SKEW_MS = 2 * 60_000;

export interface SubmissionContext {
  caller: string;
  workspace: string;
  repository: string;
  pullRequest: number;
  pr: PullRequestFacts;
  policy: Policy | undefined;
  key: KeyRecord | undefined;
  /** (account, key) pairs revoked for this repository; see `revocationId`. */
  revokedKeys: Pick<ReadonlySet<string>, 'has'>;
  now: Date;
}

/**
 * Checks a submitted signed statement against what Bitbucket and storage say now, in order:
 * who signed → where it applies → which key → signature → freshness → what was signed → eligibility.
 * Throws the first failure; returns only when the statement may be stored (challenge aside).
 */
export async function verifySubmission(signed: SignedStatement, ctx: SubmissionContext): Promise<void> {
  const { statement } = signed;
  verifySigner(statement.signer, ctx.caller);
  verifyScope(signed, ctx);
  const key = verifyKey(statement.keyId, ctx);
  if (!(await hasValidSignature(signed, key.publicKey))) {
    throw new VerificationError('BAD_SIGNATURE', 'The signature does not verify against your enrolled key; nothing was stored.');
  }
  verifyIssuedAt(statement.issuedAt, ctx.now);
  verifyAgainstPullRequest(signed, ctx);
  verifyEligibility(ctx);
}

function verifySigner(signer: string, caller: string): void {
  if (signer !== caller) {
    throw new VerificationError('WRONG_SIGNER', 'The statement names another person as signer; you can only sign as yourself.');
  }
}

function verifyScope({ statement }: SignedStatement, ctx: SubmissionContext): void {
  if (statement.workspace !== ctx.workspace) {
    throw new VerificationError('WRONG_WORKSPACE', 'The statement is for another workspace.');
  }
  if (statement.repository !== ctx.repository) {
    throw new VerificationError('WRONG_REPOSITORY', 'The statement is for another repository.');
  }
  if (statement.pullRequest !== ctx.pullRequest) {
    throw new VerificationError('WRONG_PULL_REQUEST', `The statement is for pull request #${statement.pullRequest}, not #${ctx.pullRequest}.`);
  }
}

function verifyKey(keyId: string, ctx: SubmissionContext): KeyRecord {
  const key = ctx.key;
  if (!key || key.keyId !== keyId || key.accountId !== ctx.caller) {
    throw new VerificationError('UNKNOWN_KEY', 'That signing key is not enrolled to your account; enrol this device first.');
  }
  if (ctx.revokedKeys.has(revocationId(ctx.caller, keyId))) {
    throw new VerificationError('KEY_REVOKED', `The key "${key.label}" was revoked; enrol a new key on this device to sign.`);
  }
  return key;
}

function verifyIssuedAt(issuedAt: string, now: Date): void {
  const age = now.getTime() - Date.parse(issuedAt);
  if (age > MAX_AGE_MS || age < -MAX_SKEW_MS) {
    throw new VerificationError('STATEMENT_TIME', 'The statement time is too far from the server clock; check your device clock and sign again.');
  }
}

function verifyAgainstPullRequest({ statement }: SignedStatement, ctx: SubmissionContext): void {
  const { pr, policy } = ctx;
  if (pr.state !== 'OPEN') {
    throw new PolicyError('PR_NOT_OPEN', `This pull request is ${pr.state.toLowerCase()}; only open pull requests can be signed.`);
  }
  if (statement.commit !== pr.headCommit) {
    throw new VerificationError(
      'WRONG_COMMIT',
      `You signed commit ${shortCommit(statement.commit)} but the pull request is now at ${shortCommit(pr.headCommit)}; review the new commit and sign again.`,
    );
  }
  if (statement.targetBranch !== pr.targetBranch) {
    throw new VerificationError(
      'WRONG_TARGET',
      `You signed for target branch "${statement.targetBranch}" but the pull request now targets "${pr.targetBranch}".`,
    );
  }
  if (!policy || statement.policy !== policy.hash) {
    throw new VerificationError('POLICY_CHANGED', 'The repository policy changed while you were signing; reload and sign again.');
  }
}

export type Eligibility = 'eligible' | 'not-gated' | 'not-eligible' | 'author' | 'commit-author';

/** Whether `accountId`'s approval could count toward some rule that gates this pull request, and if not, why. */
export function eligibilityOf(policy: Policy | undefined, pr: PullRequestFacts, accountId: string): Eligibility {
  const rules = rulesFor(policy, pr.targetBranch);
  if (rules.length === 0) return 'not-gated';
  const memberOf = rules.filter((rule) => rule.requirements.some((r) => r.members.includes(accountId)));
  if (memberOf.length === 0) return 'not-eligible';
  const countsIn = memberOf.filter(
    (rule) =>
      !(rule.excludeAuthor && accountId === pr.author) &&
      !(rule.excludeCommitAuthors && pr.commitAuthors.includes(accountId)),
  );
  if (countsIn.length > 0) return 'eligible';
  return accountId === pr.author ? 'author' : 'commit-author';
}

function verifyEligibility(ctx: SubmissionContext): void {
  switch (eligibilityOf(ctx.policy, ctx.pr, ctx.caller)) {
    case 'eligible':
      return;
    case 'not-gated':
      throw new PolicyError('NOT_GATED', `No rule covers the target branch "${ctx.pr.targetBranch}", so there is nothing to sign.`);
    case 'not-eligible':
      throw new PolicyError('NOT_ELIGIBLE', 'You are not in any approver group for this branch, so your signature would not count.');
    case 'author':
      throw new PolicyError('SELF_APPROVAL', 'You opened this pull request; the policy does not let authors approve their own changes.');
    case 'commit-author':
      throw new PolicyError('COMMIT_AUTHOR', 'You authored commits in this pull request; the policy does not let commit authors approve it.');
  }
}

/** Who may use a challenge, and when: all of it must hold at the moment it is consumed. */
export interface ChallengeClaim {
  accountId: string;
  workspace: string;
  repository: string;
  pullRequest: number;
  now: Date;
}

/**
 * Explains why a challenge could not be consumed, from what storage held when the conditional
 * write was refused. Always throws: a refused challenge is never acceptable.
 */
export function explainRefusedChallenge(found: unknown, claim: ChallengeClaim): never {
  const parsed = ChallengeRecord.safeParse(found);
  if (!parsed.success) {
    throw new VerificationError('CHALLENGE_INVALID', 'The signing challenge is unknown; reload the card and sign again.');
  }
  const record = parsed.data;
  if (
    record.accountId !== claim.accountId ||
    record.workspace !== claim.workspace ||
    record.repository !== claim.repository ||
    record.pullRequest !== claim.pullRequest
  ) {
    throw new VerificationError('CHALLENGE_INVALID', 'The signing challenge was issued to someone else or for another pull request.');
  }
  if (record.consumed) {
    throw new VerificationError('CHALLENGE_USED', 'This signing challenge was already used; each signature needs a fresh one. Reload and sign again.');
  }
  if (Date.parse(record.expiresAt) <= claim.now.getTime()) {
    throw new VerificationError('CHALLENGE_EXPIRED', 'The signing challenge expired; reload the card and sign again.');
  }
  throw new VerificationError('CHALLENGE_INVALID', 'The signing challenge could not be used; reload the card and sign again.');
}
