import { standingFinding, type CheckedApproval, type StandingFinding } from './assessment';
import { displayName, signedCount } from './names';
import { shortCommit } from './subject';
import { rulesFor, type Policy, type Rule } from './policy';
import type { PullRequestFacts } from './pullRequest';

/** Why a signature present in storage does not count toward a requirement (see `standingFinding`). */
export type NotCountedReason = StandingFinding;

export interface RequirementResult {
  group: string;
  required: number;
  counted: string[];
  notCounted: { accountId: string; reason: NotCountedReason }[];
  met: boolean;
}

export interface RuleResult {
  branchPattern: string;
  requirements: RequirementResult[];
  /** Eligible approvers whose current, valid signed decision on the head commit is a rejection. */
  rejectedBy: string[];
  /** Signers who are in none of this rule's groups. */
  notEligible: string[];
  met: boolean;
}

export interface Verdict {
  gated: boolean;
  pass: boolean;
  headCommit: string;
  targetBranch: string;
  policyVersion?: number;
  rules: RuleResult[];
  /** The merge check's answer in words, naming people by display name. */
  message: string;
  /** Sentences for the card beside its own headline (each starts with a capital), e.g. how many signatures are stale. */
  notes: string[];
  /**
   * Display names of the accounts this verdict mentions, where known: Bitbucket's names for the pull
   * request's people, else the name recorded with the signer's decision. See `displayName` for the rest.
   */
  names: Record<string, string>;
}

export interface QuorumInput {
  policy: Policy | undefined;
  pr: PullRequestFacts;
  approvals: CheckedApproval[];
}

/**
 * Decides whether a pull request has its quorum: every rule matching the target branch must have
 * each requirement met and no blocking rejection. Pure and synchronous; signatures were checked before.
 */
export function evaluateQuorum({ policy, pr, approvals }: QuorumInput): Verdict {
  const rules = rulesFor(policy, pr.targetBranch);
  const base = { headCommit: pr.headCommit, targetBranch: pr.targetBranch, policyVersion: policy?.version };
  if (rules.length === 0) {
    return {
      ...base,
      gated: false,
      pass: true,
      rules: [],
      message: `Countersign: no rule covers the target branch "${pr.targetBranch}"; this pull request is not gated.`,
      notes: [],
      names: {},
    };
  }
  const latest = latestPerSigner(approvals);
  const results = rules.map((rule) => evaluateRule(rule, pr, latest));
  const pass = results.every((r) => r.met);
  const names = namesOf(results, pr, latest);
  const verdict = { ...base, gated: true, pass, rules: results, names };
  return { ...verdict, ...describeVerdict(verdict, pr, latest) };
}

/**
 * Everyone the verdict mentions, by the best name known: Bitbucket's name for the pull request's
 * people as read now, else the one recorded (from Bitbucket, as the signer) when their decision was accepted.
 */
function namesOf(results: RuleResult[], pr: PullRequestFacts, latest: Map<string, CheckedApproval>): Record<string, string> {
  const names: Record<string, string> = {};
  const mention = (id: string) => {
    if (Object.prototype.hasOwnProperty.call(names, id)) return;
    const name = Object.prototype.hasOwnProperty.call(pr.names, id) ? pr.names[id] : latest.get(id)?.signerName;
    if (name) names[id] = name;
  };
  for (const rule of results) {
    for (const r of rule.requirements) {
      r.counted.forEach(mention);
      r.notCounted.forEach((n) => mention(n.accountId));
    }
    rule.rejectedBy.forEach(mention);
    rule.notEligible.forEach(mention);
  }
  return names;
}

/**
 * A signer's latest statement is their current position; older ones are superseded. Deduplicating
 * here is what stops one person, or one key, from counting twice toward a group.
 */
function latestPerSigner(approvals: CheckedApproval[]): Map<string, CheckedApproval> {
  const latest = new Map<string, CheckedApproval>();
  for (const approval of approvals) {
    const current = latest.get(approval.signer);
    if (!current || isLater(approval, current)) latest.set(approval.signer, approval);
  }
  return latest;
}

function isLater(a: CheckedApproval, b: CheckedApproval): boolean {
  if (a.seq !== b.seq) return a.seq > b.seq;
  // Ties are broken on the whole entry so that input order never changes the verdict; an entry
  // with a problem wins a tie, so a doubtful duplicate can never hide behind a sound one.
  return tieKey(a) > tieKey(b);
}

function tieKey(a: CheckedApproval): string {
  return JSON.stringify([a.problem ? 1 : 0, a.problem ?? '', a.decision, a.commit, a.targetBranch, a.policy, a.keyId, a.signerName ?? '']);
}

function evaluateRule(rule: Rule, pr: PullRequestFacts, latest: Map<string, CheckedApproval>): RuleResult {
  const eligible = new Set(rule.requirements.flatMap((r) => r.members));
  const rejectedBy = new Set<string>();
  const requirements = rule.requirements.map((requirement): RequirementResult => {
    const counted: string[] = [];
    const notCounted: RequirementResult['notCounted'] = [];
    for (const member of requirement.members) {
      const approval = latest.get(member);
      if (!approval) continue;
      const reason = standingFinding(approval, rule, pr);
      if (reason) notCounted.push({ accountId: member, reason });
      else if (approval.decision === 'reject') rejectedBy.add(member);
      else counted.push(member);
    }
    return { group: requirement.group, required: requirement.count, counted, notCounted, met: counted.length >= requirement.count };
  });
  const notEligible = [...latest.keys()].filter((signer) => !eligible.has(signer)).sort();
  const blocking = rule.rejectionsBlock ? [...rejectedBy].sort() : [];
  return {
    branchPattern: rule.branchPattern,
    requirements,
    rejectedBy: blocking,
    notEligible,
    met: requirements.every((r) => r.met) && blocking.length === 0,
  };
}

const MAX_NAMES = 5;

function listNames(ids: string[], names: Record<string, string>): string {
  const shown = ids.slice(0, MAX_NAMES).map((id) => displayName(id, names));
  return ids.length > MAX_NAMES ? `${shown.join(', ')} +${ids.length - MAX_NAMES} more` : shown.join(', ');
}

function describeRequirement(r: RequirementResult, names: Record<string, string>): string {
  const who = r.counted.length ? ` (${listNames(r.counted, names)})` : '';
  return `${r.group} ${signedCount(r.counted.length, r.required)}${who}`;
}

function describeVerdict(
  verdict: Omit<Verdict, 'message' | 'notes'>,
  pr: PullRequestFacts,
  latest: Map<string, CheckedApproval>,
): { message: string; notes: string[] } {
  const { names } = verdict;
  const commit = shortCommit(pr.headCommit);
  const prefixed = verdict.rules.length > 1;
  const progress = verdict.rules
    .map((rule) => {
      const text = rule.requirements.map((r) => describeRequirement(r, names)).join('; ');
      return prefixed ? `[${rule.branchPattern}] ${text}` : text;
    })
    .join('; ');
  if (verdict.pass) return { message: `Countersign: approved on ${commit} — ${progress}.`, notes: [] };

  const rejectedBy = [...new Set(verdict.rules.flatMap((r) => r.rejectedBy))];
  if (rejectedBy.length) {
    // The card names who rejected beside each rule, so it needs no note.
    return { message: `Countersign: blocked — rejected by ${listNames(rejectedBy, names)} on ${commit}. ${progress}.`, notes: [] };
  }

  const stale = [...latest.values()].filter((a) => !a.problem && a.commit !== pr.headCommit).length;
  const staleNote = stale ? `${stale} signature${stale === 1 ? ' is' : 's are'} for an older commit.` : undefined;
  return {
    message: `Countersign: ${progress} — waiting for signatures on ${commit}.${staleNote ? ` ${staleNote}` : ''}`,
    notes: staleNote ? [staleNote] : [],
  };
}
