import { environmentPolicyFor, refAllowed, type DeploymentRef, type EnvironmentPolicy } from './environmentPolicy';
import { matchesBranchPattern } from './patterns';
import { displayName, signedCount } from './names';
import type { Policy } from './policy';
import type { Decision } from './statement';
import { shortCommit } from './subject';

/**
 * The pure half of the deployment gate: given what Bitbucket and the ledger say about a deployment
 * and the approvals in force for it, may it go ahead, and if not, what is missing. No I/O.
 */

/** What the gate knows about a deployment, all of it from Bitbucket or the ledger (never from the caller). */
export interface DeploymentFacts {
  environment: { uuid: string; name?: string };
  commit: string;
  /**
   * The ref the pipeline runs for, as Bitbucket names it, and only when the ref itself (read as the app)
   * points at this commit; absent for a pipeline run on a bare commit.
   */
  ref?: DeploymentRef;
  /**
   * The ref the pipeline says it runs for when that tag does not point at this commit, or that branch's
   * head is another commit (or the ref does not exist): whoever starts a pipeline picks its ref and
   * commit freely, so such a deployment has no ref.
   */
  unverifiedRef?: DeploymentRef;
  /** The commit's author, where Bitbucket maps them to an account. */
  commitAuthor?: string;
  /** Who started the pipeline, where Bitbucket names an account. */
  pipelineStarter?: string;
  /** The merge the ledger recorded that put this commit on its branch, if one did (`mergeToKeep` picks one of several). */
  merge?: {
    pullRequest: number;
    gated: boolean;
    pass: boolean;
    merger?: string;
    /** The pull request's author and its commits' authors (absent from merges recorded before they were kept). */
    author?: string;
    commitAuthors?: string[];
    /** The branch it merged into (absent from merges recorded before it was kept). */
    targetBranch?: string;
    /** The ledger entry of the merge record. */
    entry?: number;
  };
}

/** A deployment decision in force, as the gate and the deployments page judge it. */
export interface CheckedDeploymentApproval {
  signer: string;
  keyId: string;
  decision: Decision;
  commit: string;
  environment: string;
  policy: string;
  issuedAt: string;
  /** Server order of acceptance: of one signer's decisions, the highest is in force. */
  seq: number;
  problem?: 'revoked-key';
  signerName?: string;
}

export type DeploymentFinding = 'revoked-key' | 'commit-author' | 'merger' | 'pipeline-starter' | 'other-deployment';

export interface DeploymentRequirementResult {
  group: string;
  required: number;
  counted: string[];
  notCounted: { accountId: string; reason: DeploymentFinding }[];
  met: boolean;
}

export interface DeploymentVerdict {
  gated: boolean;
  pass: boolean;
  environment: { uuid: string; name: string };
  commit: string;
  policy?: { version: number; hash: string };
  refAllowed: boolean;
  /**
   * Whether the policy asks for a merged pull request, and if so whether the ledger shows one with its
   * quorum (`other-branch`: it did, into a branch the environment's `branches` patterns do not name).
   */
  merge: 'not-required' | 'met' | 'missing' | 'unmet' | 'other-branch';
  requirements: DeploymentRequirementResult[];
  rejectedBy: string[];
  /** Everyone whose approval counted, once each. */
  approvedBy: string[];
  /** What is still missing, one sentence each (empty when it passes). */
  missing: string[];
  message: string;
  names: Record<string, string>;
}

export interface DeploymentInput {
  policy: Policy | undefined;
  facts: DeploymentFacts;
  approvals: CheckedDeploymentApproval[];
  /** Display names known for accounts (Bitbucket's, else recorded with decisions). */
  names?: Record<string, string>;
}

export function evaluateDeployment({ policy, facts, approvals, names: known = {} }: DeploymentInput): DeploymentVerdict {
  const environmentPolicy = environmentPolicyFor(policy?.environments, facts.environment.uuid);
  const environment = { uuid: facts.environment.uuid, name: environmentPolicy?.name ?? facts.environment.name ?? facts.environment.uuid };
  const commit = shortCommit(facts.commit);
  if (!policy || !environmentPolicy) {
    return {
      gated: false,
      pass: true,
      environment,
      commit: facts.commit,
      refAllowed: true,
      merge: 'not-required',
      requirements: [],
      rejectedBy: [],
      approvedBy: [],
      missing: [],
      message: `Countersign: no policy covers the environment "${environment.name}"; this deployment is not gated.`,
      names: {},
    };
  }
  const latest = latestPerSigner(approvals);
  const names = namesOf(latest, known);
  const rejectedBy = new Set<string>();
  const requirements = environmentPolicy.requirements.map((requirement): DeploymentRequirementResult => {
    const counted: string[] = [];
    const notCounted: DeploymentRequirementResult['notCounted'] = [];
    for (const member of requirement.members) {
      const approval = latest.get(member);
      if (!approval) continue;
      const reason = findingOf(approval, environmentPolicy, facts);
      if (reason) notCounted.push({ accountId: member, reason });
      else if (approval.decision === 'reject') rejectedBy.add(member);
      else counted.push(member);
    }
    return { group: requirement.group, required: requirement.count, counted, notCounted, met: counted.length >= requirement.count };
  });
  const blocking = environmentPolicy.rejectionsBlock ? [...rejectedBy].sort() : [];
  const allowedRef = refAllowed(environmentPolicy, facts.ref);
  const merge = mergeStanding(environmentPolicy, facts);

  const missing: string[] = [];
  if (!allowedRef) missing.push(refSentence(environmentPolicy, facts));
  if (merge === 'missing') missing.push(`Commit ${commit} did not reach its branch through a pull request merged with Countersign's quorum.`);
  if (merge === 'unmet') missing.push(`Commit ${commit} was merged in pull request #${facts.merge!.pullRequest} without its merge quorum.`);
  if (merge === 'other-branch') {
    const into = facts.merge!.targetBranch;
    missing.push(
      `Commit ${commit} was merged in pull request #${facts.merge!.pullRequest} into ${into ? `branch "${into}"` : 'a branch the ledger does not name'}, but ${environmentPolicy.name} takes merges only into branches ${environmentPolicy.branches.join(', ')}.`,
    );
  }
  if (environmentPolicy.excludeCommitAuthor && !facts.commitAuthor && !facts.merge?.author) {
    missing.push(
      `Bitbucket maps the author of commit ${commit} to no account, so Countersign cannot keep them from approving its deployment; link the author's email address to their Bitbucket account, or turn off excluding the commit's author for ${environmentPolicy.name}.`,
    );
  }
  if (blocking.length) missing.push(`Rejected by ${blocking.map((id) => displayName(id, names)).join(', ')}.`);
  for (const r of requirements) if (!r.met) missing.push(`${r.group}: ${signedCount(r.counted.length, r.required)}.`);

  const approvedBy = [...new Set(requirements.flatMap((r) => r.counted))];
  const progress = requirements.map((r) => `${r.group} ${signedCount(r.counted.length, r.required)}${r.counted.length ? ` (${r.counted.map((id) => displayName(id, names)).join(', ')})` : ''}`).join('; ');
  const pass = missing.length === 0;
  const message = pass
    ? `Countersign: approved to deploy ${commit} to ${environment.name} — ${progress}.`
    : `Countersign: ${commit} may not deploy to ${environment.name} yet — ${missing.join(' ')}`;
  return {
    gated: true,
    pass,
    environment,
    commit: facts.commit,
    policy: { version: policy.version, hash: policy.hash },
    refAllowed: allowedRef,
    merge,
    requirements,
    rejectedBy: blocking,
    approvedBy,
    missing,
    message,
    names,
  };
}

/** Why an approval in force does not count here, if it does not. */
export function findingOf(approval: CheckedDeploymentApproval, policy: EnvironmentPolicy, facts: DeploymentFacts): DeploymentFinding | undefined {
  if (approval.problem) return approval.problem;
  if (approval.commit !== facts.commit || approval.environment !== facts.environment.uuid) return 'other-deployment';
  if (policy.excludeCommitAuthor && isCommitAuthor(approval.signer, facts)) return 'commit-author';
  if (policy.excludeMerger && approval.signer === facts.merge?.merger) return 'merger';
  if (policy.excludePipelineStarter && approval.signer === facts.pipelineStarter) return 'pipeline-starter';
  return undefined;
}

/**
 * The commit's author, and, since the deployed commit is usually a merge or squash commit whose git
 * author is whoever merged, the author of the pull request that merged it and its commits' authors.
 */
function isCommitAuthor(signer: string, facts: DeploymentFacts): boolean {
  return signer === facts.commitAuthor || signer === facts.merge?.author || (facts.merge?.commitAuthors?.includes(signer) ?? false);
}

/**
 * A gated, passing merge meets the requirement; where the environment lists `branches` patterns, only
 * one into a branch they match (with none listed, any such merge counts, whatever its branch).
 */
function mergeStanding(policy: EnvironmentPolicy, facts: DeploymentFacts): DeploymentVerdict['merge'] {
  if (!policy.requireMergedPullRequest) return 'not-required';
  if (!facts.merge) return 'missing';
  if (!(facts.merge.gated && facts.merge.pass)) return 'unmet';
  const into = facts.merge.targetBranch;
  if (policy.branches.length && !(into !== undefined && policy.branches.some((pattern) => matchesBranchPattern(pattern, into)))) return 'other-branch';
  return 'met';
}

function refSentence(policy: EnvironmentPolicy, facts: DeploymentFacts): string {
  const { ref, unverifiedRef: claimed } = facts;
  const allowed = [
    policy.branches.length ? `branches ${policy.branches.join(', ')}` : '',
    policy.tags.length ? `tags ${policy.tags.join(', ')}` : '',
  ].filter(Boolean);
  const only = `${policy.name} deploys only from ${allowed.join(' or ')}`;
  const commit = shortCommit(facts.commit);
  if (!ref && claimed?.type === 'tag') return `${only}; this pipeline runs for tag "${claimed.name}", but that tag does not point at commit ${commit}, so it counts as no tag.`;
  if (!ref && claimed?.type === 'branch') {
    return `${only}; this pipeline runs for branch "${claimed.name}", but that branch does not point at commit ${commit}: the branch has moved on (or is gone), so deploy its head.`;
  }
  const from = ref ? `${ref.type} "${ref.name}"` : 'no branch or tag';
  return `${only}; this pipeline runs for ${from}.`;
}

function latestPerSigner(approvals: CheckedDeploymentApproval[]): Map<string, CheckedDeploymentApproval> {
  const latest = new Map<string, CheckedDeploymentApproval>();
  for (const approval of approvals) {
    const current = latest.get(approval.signer);
    // A problem wins a tie, so a doubtful duplicate never hides behind a sound one.
    if (!current || approval.seq > current.seq || (approval.seq === current.seq && approval.problem && !current.problem)) latest.set(approval.signer, approval);
  }
  return latest;
}

function namesOf(latest: Map<string, CheckedDeploymentApproval>, known: Record<string, string>): Record<string, string> {
  const names: Record<string, string> = { ...known };
  for (const [id, approval] of latest) if (!Object.prototype.hasOwnProperty.call(names, id) && approval.signerName) names[id] = approval.signerName;
  return names;
}
