import { asApp, asUser, NeedsAuthenticationError, route, routeFromAbsolute, type RequestProductMethod } from '@forge/api';
import { RequestError, type MergeStrategy, type PullRequestFacts } from '../core';
import type { Actor, BitbucketPort, BuildState, MergeOutcome, RepositoryPermission } from '../ports';

/**
 * How Bitbucket's 429s and 5xx are retried: exponential backoff from `baseMs` (or the `Retry-After` it
 * asks for), for at most `budgetMs` in all, so a function stays inside Forge's 25 s; then the error is
 * reported. A 202 merge is polled every `pollMs` for at most `mergeBudgetMs`.
 */
export interface RetryOptions {
  baseMs: number;
  budgetMs: number;
  pollMs: number;
  mergeBudgetMs: number;
}
export const DEFAULT_RETRY: RetryOptions = { baseMs: 250, budgetMs: 6000, pollMs: 500, mergeBudgetMs: 10000 };

const COMMITS_PAGE = 100;
const BUILD_STATUS_KEY = 'countersign';

interface Account {
  account_id?: string;
  display_name?: string;
}
interface PullRequestJson {
  id: number;
  title: string;
  state: PullRequestFacts['state'];
  author: Account;
  source: { branch: { name: string }; commit: { hash: string } };
  destination: { branch: { name: string } };
  participants?: { user?: Account }[];
  /** `null` until merged; the hash abbreviated (the API description: `[0-9a-f]{7,}`). */
  merge_commit?: { hash?: string } | null;
}

/** A commit prefix as Bitbucket gives one, or undefined for anything else. */
function commitPrefix(hash: unknown): string | undefined {
  return typeof hash === 'string' && /^[0-9a-f]{7,40}$/.test(hash) ? hash : undefined;
}
interface CommitsPage {
  values: { hash: string; author?: { user?: Account } }[];
  next?: string;
}


/**
 * Bitbucket Cloud REST through `@forge/api`. Pull requests are read as the user who asked (so nobody
 * sees or signs what Bitbucket would not show them) or as the app for the merge check; permission
 * checks are always made as the calling user.
 */
export class BitbucketRest implements BitbucketPort {
  private readonly retry: RetryOptions;

  constructor(retry: Partial<RetryOptions> = {}) {
    this.retry = { ...DEFAULT_RETRY, ...retry };
  }

  async getPullRequest(workspace: string, repository: string, pullRequest: number, as: Actor): Promise<PullRequestFacts> {
    const app = as === 'user' ? asUser().requestBitbucket : asApp().requestBitbucket;
    const base = route`/2.0/repositories/${workspace}/${repository}/pullrequests/${pullRequest}`;
    // The pull request carries only an abbreviated head hash; its commit list (newest first) gives the
    // full one. Both are read at once so the answer costs one round trip.
    const [pr, commits] = await Promise.all([
      getJson<PullRequestJson>(app, base, this.retry),
      getJson<CommitsPage>(app, route`/2.0/repositories/${workspace}/${repository}/pullrequests/${pullRequest}/commits?pagelen=${COMMITS_PAGE}`, this.retry),
    ]);
    const head = commits.values[0]?.hash;
    if (!head || !/^[0-9a-f]{40}$/.test(head) || !head.startsWith(pr.source.commit.hash)) {
      throw new RequestError('BITBUCKET_ERROR', 'The pull request changed while Countersign was reading it; try again.');
    }
    if (!pr.author.account_id) {
      throw new RequestError('BITBUCKET_ERROR', 'Bitbucket did not say who opened this pull request, so authorship cannot be checked; try again.');
    }
    // Pull requests of more than one page of commits cost one more round trip per page, in order,
    // following Bitbucket's own `next` links as its API asks.
    const allCommits = [...commits.values];
    for (let next = commits.next; next; ) {
      const more = await getJson<CommitsPage>(app, nextPage(next), this.retry);
      allCommits.push(...more.values);
      next = more.next;
    }
    const commitAccounts = allCommits.map((c) => c.author?.user).filter((u): u is Account => !!u?.account_id);
    const accounts = [pr.author, ...(pr.participants ?? []).map((p) => p.user ?? {}), ...commitAccounts];
    const mergeCommit = pr.state === 'MERGED' ? commitPrefix(pr.merge_commit?.hash) : undefined;
    return {
      workspace,
      repository,
      id: pr.id,
      title: pr.title,
      state: pr.state,
      author: pr.author.account_id,
      sourceBranch: pr.source.branch.name,
      targetBranch: pr.destination.branch.name,
      headCommit: head,
      commitAuthors: [...new Set(commitAccounts.map((u) => u.account_id!))],
      names: Object.fromEntries(accounts.filter((a) => a.account_id && a.display_name).map((a) => [a.account_id!, a.display_name!])),
      ...(mergeCommit ? { mergeCommit } : {}),
    };
  }

  /** `GET …/commit/{commit}` as the app: the full hash of an abbreviated one (Bitbucket accepts a prefix there). */
  async resolveCommit(workspace: string, repository: string, commit: string): Promise<string> {
    if (/^[0-9a-f]{40}$/.test(commit)) return commit;
    if (!commitPrefix(commit)) throw new RequestError('BITBUCKET_ERROR', `Bitbucket named the commit ${JSON.stringify(commit)}, which is not a commit hash; try again.`);
    const found = await getJson<{ hash?: string }>(asApp().requestBitbucket, route`/2.0/repositories/${workspace}/${repository}/commit/${commit}`, this.retry);
    if (typeof found.hash !== 'string' || !/^[0-9a-f]{40}$/.test(found.hash) || !found.hash.startsWith(commit)) {
      throw new RequestError('BITBUCKET_ERROR', `Bitbucket did not give the full hash of commit ${commit}; try again.`);
    }
    return found.hash;
  }

  async getPipelineCommit(workspace: string, repository: string, pipeline: string): Promise<string | undefined> {
    const response = await send(() => asApp().requestBitbucket(route`/2.0/repositories/${workspace}/${repository}/pipelines/${pipeline}`, { headers: { Accept: 'application/json' } }), this.retry);
    if (response.status === 404) return undefined;
    if (!response.ok) throw await toBitbucketError(response);
    const hash = ((await response.json()) as { target?: { commit?: { hash?: unknown } } }).target?.commit?.hash;
    if (typeof hash !== 'string' || !commitPrefix(hash)) throw new RequestError('BITBUCKET_ERROR', `Bitbucket did not say which commit pipeline ${pipeline} runs for; try again.`);
    return this.resolveCommit(workspace, repository, hash);
  }

  async listOpenPullRequests(workspace: string, repository: string): Promise<number[]> {
    const app = asApp().requestBitbucket;
    const ids: number[] = [];
    let page = await getJson<{ values: { id: number }[]; next?: string }>(app, route`/2.0/repositories/${workspace}/${repository}/pullrequests?state=OPEN&pagelen=50`, this.retry);
    for (;;) {
      ids.push(...page.values.map((pr) => pr.id));
      if (!page.next) return ids;
      page = await getJson(app, nextPage(page.next), this.retry);
    }
  }

  async getMyAccount(): Promise<{ accountId: string; displayName: string | undefined }> {
    const me = await getJson<Account>(asUser().requestBitbucket, route`/2.0/user`, this.retry);
    if (!me.account_id) throw new RequestError('BITBUCKET_ERROR', 'Bitbucket did not say which account is signed in; try again.');
    return { accountId: me.account_id, displayName: me.display_name };
  }

  async getMyPermission(workspace: string, repository: string): Promise<RepositoryPermission> {
    const query = `repository.uuid="${repository}"`;
    const page = await getJson<{ values: { permission?: RepositoryPermission }[] }>(
      asUser().requestBitbucket,
      route`/2.0/user/workspaces/${workspace}/permissions/repositories?q=${query}`,
      this.retry,
    );
    return page.values[0]?.permission ?? 'none';
  }

  async postBuildStatus(
    workspace: string,
    repository: string,
    commit: string,
    status: { state: BuildState; description: string; url: string; refname?: string },
  ): Promise<void> {
    // Posting under the same key again replaces the status, so a retried post is harmless.
    const response = await send(() => asApp().requestBitbucket(route`/2.0/repositories/${workspace}/${repository}/commit/${commit}/statuses/build`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        key: BUILD_STATUS_KEY,
        state: status.state,
        name: 'Countersign',
        description: status.description.slice(0, 255),
        url: status.url,
        ...(status.refname ? { refname: status.refname } : {}),
      }),
    }), this.retry);
    if (!response.ok) throw await toBitbucketError(response);
  }

  async getHead(workspace: string, repository: string, pullRequest: number): Promise<{ state: PullRequestFacts['state']; commit: string }> {
    const pr = await getJson<PullRequestJson>(asApp().requestBitbucket, route`/2.0/repositories/${workspace}/${repository}/pullrequests/${pullRequest}`, this.retry);
    return { state: pr.state, commit: pr.source.commit.hash };
  }

  /**
   * `POST …/merge` as the app. 200: merged. 202: Bitbucket merges in the background and names a task in
   * `Location`, polled until it succeeds or fails (or the budget runs out: pending). Any refusal
   * (conflict, Bitbucket's own merge checks, 409 when a ref moved, 555 when it took too long) is a failure
   * with Bitbucket's reason, for the ledger and the card; it is not retried.
   */
  async mergePullRequest(workspace: string, repository: string, pullRequest: number, strategy: MergeStrategy): Promise<MergeOutcome> {
    const response = await send(() => asApp().requestBitbucket(route`/2.0/repositories/${workspace}/${repository}/pullrequests/${pullRequest}/merge`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type: 'pullrequest_merge_parameters', merge_strategy: strategy, message: `Merged by Countersign: quorum of signed approvals met (pull request #${pullRequest}).` }),
    }), this.retry, { retryServerErrors: false });
    if (response.status === 200) return merged(await response.json().catch(() => undefined));
    if (response.status !== 202) return { kind: 'failed', reason: await failureReason(response) };
    const found = /\/merge\/task-status\/([^/?#]+)/.exec(response.headers.get('location') ?? '')?.[1];
    if (!found) return { kind: 'failed', reason: 'Bitbucket accepted the merge but did not say where to follow it.' };
    const taskId = decodeURIComponent(found);
    const deadline = Date.now() + this.retry.mergeBudgetMs;
    while (Date.now() < deadline) {
      await sleep(this.retry.pollMs);
      const task = await send(() => asApp().requestBitbucket(route`/2.0/repositories/${workspace}/${repository}/pullrequests/${pullRequest}/merge/task-status/${taskId}`, {
        headers: { Accept: 'application/json' },
      }), this.retry);
      if (!task.ok) return { kind: 'failed', reason: await failureReason(task) };
      const body = (await task.json()) as { task_status?: string; type?: string; error?: { message?: string }; merge_result?: unknown };
      if (body.type === 'error') return { kind: 'failed', reason: body.error?.message ?? 'Bitbucket reported the merge failed.' };
      if (body.task_status === 'SUCCESS') return merged(body.merge_result);
      if (body.task_status !== 'PENDING') return { kind: 'failed', reason: `Bitbucket reported the merge as ${body.task_status ?? 'unknown'}.` };
    }
    return { kind: 'pending' };
  }
}

/** A finished merge, with the merge commit the merged pull request (the answer's body) names, if it names one. */
function merged(pullRequest: unknown): MergeOutcome {
  const hash = commitPrefix((pullRequest as Partial<PullRequestJson> | undefined)?.merge_commit?.hash);
  return hash ? { kind: 'merged', mergeCommit: hash } : { kind: 'merged' };
}

function nextPage(next: string): ReturnType<typeof route> {
  if (new URL(next).origin !== 'https://api.bitbucket.org') {
    throw new RequestError('BITBUCKET_ERROR', 'Bitbucket returned an unexpected page link; try again.');
  }
  return routeFromAbsolute(next);
}

async function getJson<T>(fetch: RequestProductMethod, path: ReturnType<typeof route>, retry: RetryOptions): Promise<T> {
  const response = await send(() => fetch(path, { headers: { Accept: 'application/json' } }), retry);
  if (!response.ok) throw await toBitbucketError(response);
  return (await response.json()) as T;
}

type ProductResponse = Awaited<ReturnType<RequestProductMethod>>;

/**
 * One Bitbucket request, retried with exponential backoff (or the `Retry-After` Bitbucket asks for) on
 * 429 and 5xx while the budget lasts; the last answer is returned for the caller to report. A merge is
 * retried only on 429 (nothing was done), never on a 5xx that may have merged.
 */
async function send(
  request: () => Promise<ProductResponse>,
  retry: RetryOptions,
  options: { retryServerErrors?: boolean } = {},
): Promise<ProductResponse> {
  const deadline = Date.now() + retry.budgetMs;
  for (let attempt = 0; ; attempt++) {
    let response: ProductResponse;
    try {
      response = await request();
    } catch (cause) {
      // Forge turns this error into the "Allow access" prompt for asUser() calls; it must pass through.
      if (cause instanceof NeedsAuthenticationError) throw cause;
      throw new RequestError('BITBUCKET_ERROR', 'Countersign could not reach Bitbucket; try again in a moment.', { cause });
    }
    const retriable = response.status === 429 || (response.status >= 500 && response.status !== 555 && options.retryServerErrors !== false);
    if (!retriable) return response;
    const asked = Number(response.headers.get('retry-after'));
    const wait = Number.isFinite(asked) && asked > 0 ? asked * 1000 : retry.baseMs * 2 ** attempt * (0.5 + Math.random() / 2);
    if (Date.now() + wait > deadline) return response;
    await sleep(wait);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function failureReason(response: ProductResponse): Promise<string> {
  const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  return `Bitbucket answered ${response.status}: ${body?.error?.message ?? response.statusText ?? 'no reason given'}`;
}

async function toBitbucketError(response: Awaited<ReturnType<RequestProductMethod>>): Promise<RequestError> {
  const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  const detail = body?.error?.message ?? response.statusText;
  if (response.status === 404) return new RequestError('NOT_FOUND', `Bitbucket could not find that pull request or repository (${detail}).`);
  if (response.status === 401 || response.status === 403) {
    return new RequestError('FORBIDDEN', `Bitbucket refused Countersign access (${detail}); check the app's permissions.`);
  }
  if (response.status === 429 || response.status >= 500) {
    return new RequestError('BITBUCKET_ERROR', `Bitbucket answered ${response.status} (${detail}) and kept doing so through Countersign's retries; it will be re-evaluated on the next change, or try again in a few minutes.`);
  }
  return new RequestError('BITBUCKET_ERROR', `Bitbucket answered ${response.status} (${detail}); try again in a moment.`);
}
