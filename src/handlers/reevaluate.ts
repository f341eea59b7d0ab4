import * as z from 'zod/mini';
import {
  autoMergeDue,
  BitbucketUuid,
  mergeRecord,
  statusFor,
  type AutoMergeRecord,
  type PullRequestFacts,
  type PullRequestSubject,
  type StatusToPost,
} from '../core';
import type { Deps, GateState, ReevaluationRequest } from '../ports';
import { judge } from './judge';
import { PositiveIdFromText } from './requests';
import { toFailure } from './result';

export interface ReevaluationSubject {
  workspace: string;
  repository: string;
  pullRequest: number;
}

/** What one re-evaluation did, for logs, tests and the bench. */
export interface ReevaluationOutcome {
  commit?: string;
  posted?: string;
  /** The head moved while this ran: nothing was posted or merged; the event for the new commit will. */
  stale?: true;
  merge?: 'merged' | 'failed' | 'pending' | 'already-claimed';
  recorded?: 'merge.recorded' | 'merge.bypassed';
  error?: { code: string; message: string };
}

/**
 * The one place re-evaluation has side effects. Reads the pull request (as the app), the gate and what
 * was posted before, all at once; judges; then posts the `countersign` status, auto-merges if due and
 * appends the outcome to the ledger. Idempotent: a duplicate, late or out-of-order event re-reads the
 * current state and does nothing new. Before acting it checks the head is still the commit it judged,
 * so a push during evaluation never gets a SUCCESSFUL (or a merge) meant for the commit before.
 */
export async function reevaluate(deps: Deps, subject: ReevaluationSubject): Promise<ReevaluationOutcome> {
  const { workspace, repository, pullRequest } = subject;
  try {
    const [pr, gate, state] = await Promise.all([
      deps.bitbucket.getPullRequest(workspace, repository, pullRequest, 'app'),
      deps.gate.loadGate(repository, pullRequest),
      deps.reevaluation.loadPullRequestState(repository, pullRequest),
    ]);
    const { verdict, approvals } = await judge(pr, gate);
    const outcome: ReevaluationOutcome = { commit: pr.headCommit };
    const at = deps.now().toISOString();

    if (pr.state === 'MERGED') {
      if (state.mergeRecorded) return outcome;
      // Countersign's own merge whose outcome was not written (the poll ran out): it is Countersign's.
      const ours = state.autoMerge?.commit === pr.headCommit && state.autoMerge.state !== 'failed';
      const mergeCommit = await fullCommit(deps, pr, pr.mergeCommit);
      const { type, record } = mergeOnRecord(pr, gate, { verdict, approvals }, ours ? 'countersign' : 'bitbucket', mergeCommit);
      if (ours && state.autoMerge?.state === 'attempting') {
        await deps.reevaluation.finishAutoMerge(repository, pullRequest, { ...state.autoMerge, state: 'merged', at }, { type, ...record });
        outcome.recorded = type;
      } else if (await deps.reevaluation.recordMerge(repository, pullRequest, at, { type, ...record })) {
        outcome.recorded = type;
      }
      if (record.bypassed) console.warn(`Countersign: pull request ${pullRequest} was merged while the gate said no; recorded as merge.bypassed.`);
      return outcome;
    }
    // Declined or superseded: nothing to gate; its records stay as they are.
    if (pr.state !== 'OPEN') return outcome;

    const status = statusFor(pr, gate.policy, verdict, state.posted);
    const strategy = autoMergeDue(pr, gate.policy, verdict, state.autoMerge, deps.now());
    if (!status && !strategy) return outcome;

    // Never onto an older commit: the head Bitbucket shows now must be the one just judged.
    const head = await deps.bitbucket.getHead(workspace, repository, pullRequest);
    if (head.state !== 'OPEN' || !pr.headCommit.startsWith(head.commit)) return { ...outcome, stale: true };

    if (status) outcome.posted = await postSettled(deps, pr, status);
    if (strategy) {
      const merged: PullRequestSubject = { kind: 'pull-request', workspace, repository, pullRequest, commit: pr.headCommit, targetBranch: pr.targetBranch };
      const claim: AutoMergeRecord = { commit: pr.headCommit, strategy, state: 'attempting', at };
      if (!(await deps.reevaluation.claimAutoMerge(workspace, repository, pullRequest, claim, { type: 'automerge.attempted', subject: merged, strategy }))) {
        outcome.merge = 'already-claimed';
        return outcome;
      }
      const result = await deps.bitbucket.mergePullRequest(workspace, repository, pullRequest, strategy).catch((error: unknown) => ({
        kind: 'failed' as const,
        reason: toFailure(error).message,
      }));
      outcome.merge = result.kind;
      const done = deps.now().toISOString();
      if (result.kind === 'merged') {
        // Recorded here with the claim's outcome; the fulfilled event for this merge, early or late, finds it recorded.
        // Bitbucket's merge names no commit: what it merged is read back and judged, so a push that landed
        // between the last read and the merge is on the record as a merge the gate did not allow.
        const merged = await deps.bitbucket.getPullRequest(workspace, repository, pullRequest, 'app').catch(() => ({ ...pr, state: 'MERGED' as const }));
        const judged = merged.headCommit === pr.headCommit ? { verdict, approvals } : await judge(merged, gate);
        const mergeCommit = await fullCommit(deps, pr, result.mergeCommit ?? merged.mergeCommit);
        const { type, record } = mergeOnRecord({ ...merged, state: 'MERGED' }, gate, judged, 'countersign', mergeCommit);
        await deps.reevaluation.finishAutoMerge(repository, pullRequest, { ...claim, state: 'merged', at: done }, { type, ...record });
        outcome.recorded = type;
      } else if (result.kind === 'failed') {
        await deps.reevaluation.finishAutoMerge(repository, pullRequest, { ...claim, state: 'failed', at: done, reason: result.reason }, {
          type: 'automerge.failed',
          subject: merged,
          strategy,
          reason: result.reason,
        });
      }
    }
    return outcome;
  } catch (error) {
    // Reported, never thrown: an event handler that throws is only retried by the platform, blindly.
    const { code, message } = toFailure(error);
    console.warn(`Countersign: could not re-evaluate pull request ${pullRequest}: ${code} ${message}`);
    return { error: { code, message } };
  }
}

/** The ledger event for a merge: the verdict and the decisions that counted, each with the entry holding its envelope, and the commit the merge wrote. */
function mergeOnRecord(pr: PullRequestFacts, gate: GateState, judged: Awaited<ReturnType<typeof judge>>, mergedBy: 'countersign' | 'bitbucket', mergeCommit: string | undefined) {
  const entries = new Map(gate.approvals.map((a) => [a.signer, a.record.entry]));
  const record = mergeRecord(pr, gate.policy, judged.verdict, judged.approvals.map((a) => ({ ...a, entry: entries.get(a.signer) })), mergedBy, mergeCommit);
  return { type: record.bypassed ? ('merge.bypassed' as const) : ('merge.recorded' as const), record };
}

/**
 * The full hash of the merge commit Bitbucket named (abbreviated on a pull request). The merge is
 * recorded either way: the verdict at merge cannot wait for another event, which may never come. So
 * when Bitbucket named none, or cannot say in full after its retries, the record goes without it (and
 * its verification summary is skipped at export, saying so).
 */
async function fullCommit(deps: Deps, pr: PullRequestFacts, named: string | undefined): Promise<string | undefined> {
  if (!named) return undefined;
  try {
    return await deps.bitbucket.resolveCommit(pr.workspace, pr.repository, named);
  } catch (error) {
    const { code, message } = toFailure(error);
    console.warn(`Countersign: the merge commit ${named} of pull request ${pr.id} could not be read in full (${code} ${message}); the merge is recorded without it.`);
    return undefined;
  }
}

/** Rounds of "post, then read the gate again" before a status is taken as settled. */
const SETTLE_ROUNDS = 3;

/**
 * Posts `status`, then judges the gate again from a read made after the post, and posts again while
 * that differs. Re-evaluations run concurrently (triggers, queue consumers): one that read the gate
 * before a revocation or a signature can post after one that read it later, but whichever posts last
 * has also read the gate after its own post, so the status left standing is never older than storage.
 */
async function postSettled(deps: Deps, pr: PullRequestFacts, first: StatusToPost): Promise<string> {
  let status: StatusToPost | undefined = first;
  let posted = first.state;
  for (let round = 0; status && round < SETTLE_ROUNDS; round++) {
    await deps.bitbucket.postBuildStatus(pr.workspace, pr.repository, pr.headCommit, status);
    const last = { commit: pr.headCommit, state: status.state, description: status.description };
    await deps.reevaluation.notePostedStatus(pr.repository, pr.id, last);
    posted = status.state;
    const gate = await deps.gate.loadGate(pr.repository, pr.id);
    status = statusFor(pr, gate.policy, (await judge(pr, gate)).verdict, last);
  }
  return posted;
}

/** Every open pull request of a repository, each queued as its own re-evaluation (so 500 of them fit Forge's limits). */
export async function fanOut(deps: Deps, workspace: string, repository: string, reason: string): Promise<number> {
  const ids = await deps.bitbucket.listOpenPullRequests(workspace, repository);
  await deps.queue.enqueue(ids.map((pullRequest) => ({ kind: 'pull-request', workspace, repository, pullRequest, reason })));
  return ids.length;
}

/** Queues re-evaluation of repositories' open pull requests: used by policy saves and revocations, best effort. */
export async function requestReevaluation(deps: Deps, requests: ReevaluationRequest[]): Promise<void> {
  if (requests.length === 0) return;
  try {
    await deps.queue.enqueue(requests);
  } catch (error) {
    console.warn('Countersign: could not queue re-evaluation', error);
  }
}

const QueuedRequest = z.union([
  z.object({ kind: z.literal('pull-request'), workspace: BitbucketUuid, repository: BitbucketUuid, pullRequest: z.int().check(z.positive()), reason: z.string() }),
  z.object({ kind: z.literal('repository'), workspace: BitbucketUuid, repository: BitbucketUuid, reason: z.string() }),
]);

/** The queue consumer: one request from `@forge/events` (its `body`), a pull request or a repository to fan out. */
export async function consumeReevaluation(deps: Deps, event: unknown): Promise<ReevaluationOutcome | { queued: number }> {
  const parsed = QueuedRequest.safeParse((event as { body?: unknown } | undefined)?.body);
  if (!parsed.success) {
    console.warn('Countersign: a queued re-evaluation was not understood and is dropped.');
    return { error: { code: 'INVALID_INPUT', message: 'The queued re-evaluation was not understood.' } };
  }
  const request = parsed.data;
  if (request.kind === 'pull-request') return reevaluate(deps, request);
  try {
    return { queued: await fanOut(deps, request.workspace, request.repository, request.reason) };
  } catch (error) {
    const { code, message } = toFailure(error);
    console.warn(`Countersign: could not list the open pull requests to re-evaluate: ${code} ${message}`);
    return { error: { code, message } };
  }
}

const PullRequestEvent = z.looseObject({
  workspace: z.looseObject({ uuid: BitbucketUuid }),
  repository: z.looseObject({ uuid: BitbucketUuid }),
  pullrequest: z.looseObject({ id: PositiveIdFromText }),
});
const RepositoryEvent = z.looseObject({
  workspace: z.looseObject({ uuid: BitbucketUuid }),
  repository: z.looseObject({ uuid: BitbucketUuid }),
});

/**
 * The pull-request triggers (created, updated, fulfilled, rejected, reviewer status): Forge product
 * events carry only ids (and at most a 12-hex commit, ignored: the head is read again), so the one
 * pull request is re-evaluated from current state.
 */
export async function onPullRequestEvent(deps: Deps, event: unknown): Promise<ReevaluationOutcome> {
  const parsed = PullRequestEvent.safeParse(event);
  if (!parsed.success) return { error: { code: 'INVALID_INPUT', message: 'The pull request event was not understood.' } };
  const { workspace, repository, pullrequest } = parsed.data;
  return reevaluate(deps, { workspace: workspace.uuid, repository: repository.uuid, pullRequest: pullrequest.id });
}

/**
 * A push to the repository: which pull requests it moved is not in the event, so every open one is
 * queued, but only where the policy posts statuses or merges (elsewhere the merge check is the whole
 * gate, and re-reading every open pull request on every push would spend Bitbucket's rate limit).
 */
export async function onPushEvent(deps: Deps, event: unknown): Promise<{ queued: boolean }> {
  const parsed = RepositoryEvent.safeParse(event);
  if (!parsed.success) return { queued: false };
  const policy = await deps.gate.loadPolicy(parsed.data.repository.uuid).catch(() => 'unreadable' as const);
  // An unreadable policy is re-evaluated anyway: each pull request then says why, as the merge check does.
  if (policy !== 'unreadable' && !policy?.rules.some((rule) => rule.commitStatus || rule.autoMerge)) return { queued: false };
  await requestReevaluation(deps, [{ kind: 'repository', workspace: parsed.data.workspace.uuid, repository: parsed.data.repository.uuid, reason: 'push' }]);
  return { queued: true };
}
