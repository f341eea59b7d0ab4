import { asApp, asUser, NeedsAuthenticationError, route, routeFromAbsolute, type RequestProductMethod } from '@forge/api';
import type { JSONWebKeySet } from 'jose';
import { RequestError, type DeploymentRef, type MergeStrategy, type PullRequestFacts } from '../core';
import type { Actor, BitbucketPort, BuildState, DeploymentEnvironment, MergeOutcome, PipelineFacts, PipelinesPort, RepositoryPermission } from '../ports';

/**
 * How Bitbucket's 429s and 5xx are retried: exponential backoff from `baseMs` (or the `Retry-After` it
 * asks for), for at most `budgetMs` in all, so a function stays inside Forge's 25 s; then the error is
 * reported. A 202 merge is polled every `pollMs` for at most `mergeBudgetMs`. A Pipelines token naming a
 * key the cached keys lack refetches them at most once per `keyRefetchMs`, so made-up key ids cannot make
 * every call a Bitbucket read.
 */
export interface RetryOptions {
  baseMs: number;
  budgetMs: number;
  pollMs: number;
  mergeBudgetMs: number;
  keyRefetchMs: number;
}
export const DEFAULT_RETRY: RetryOptions = { baseMs: 250, budgetMs: 6000, pollMs: 500, mergeBudgetMs: 10000, keyRefetchMs: 30_000 };

const COMMITS_PAGE = 100;
const ENVIRONMENTS_PAGE = 100;
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
  closed_by?: Account | null;
}

/** `pipeline`: its target is a `pipeline_ref_target` (branch or tag), a `pipeline_commit_target` (a custom run on a bare commit), or a pull request's. */
interface PipelineJson {
  uuid?: string;
  build_number?: number;
  creator?: Account | null;
  target?: { type?: string; ref_type?: string; ref_name?: string; commit?: { hash?: string } | null };
}

/** How long a workspace's Pipelines issuer and keys are trusted from one read; a token naming a key not among them refetches sooner (`RetryOptions.keyRefetchMs`). */
export const OIDC_CACHE_MS = 5 * 60_000;
const ISSUER = /^https:\/\/api\.bitbucket\.org\/2\.0\/workspaces\/[^/]+\/pipelines-config\/identity\/oidc$/;

/** A commit prefix as Bitbucket gives one, or undefined for anything else. */
function commitPrefix(hash: unknown): string | undefined {
  return typeof hash === 'string' && /^[0-9a-f]{7,40}$/.test(hash) ? hash : undefined;
}
/** A `deployment_environment`: the API description promises only `uuid` and `name`; Bitbucket also sends its type. */
interface EnvironmentJson {
  uuid?: unknown;
  name?: unknown;
  environment_type?: { name?: unknown };
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
export class BitbucketRest implements BitbucketPort, PipelinesPort {
  private readonly retry: RetryOptions;
  /** Per container: each workspace's Pipelines issuer and keys, with when they were read. */
  private readonly oidc = new Map<string, { trust: Promise<{ issuer: string; keys: JSONWebKeySet }>; at: number }>();

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
      ...(pr.closed_by?.account_id ? { closedBy: pr.closed_by.account_id } : {}),
    };
  }

  /**
   * The workspace's Pipelines OIDC issuer (its OpenID configuration) and published keys (`keys.json`),
   * by workspace UUID, as the app; kept for `OIDC_CACHE_MS`. A `kid` the cached keys lack (Bitbucket
   * rotated them) refetches, at most once per `keyRefetchMs`. A failed read is not kept.
   */
  async getOidcTrust(workspace: string, kid?: string): Promise<{ issuer: string; keys: JSONWebKeySet }> {
    const now = Date.now();
    const cached = this.oidc.get(workspace);
    if (cached && now - cached.at < OIDC_CACHE_MS) {
      const trust = await cached.trust;
      const known = kid === undefined || trust.keys.keys.some((k) => k.kid === kid);
      if (known || now - cached.at < this.retry.keyRefetchMs) return trust;
    }
    const trust = this.readOidcTrust(workspace);
    this.oidc.set(workspace, { trust, at: now });
    trust.catch(() => {
      if (this.oidc.get(workspace)?.trust === trust) this.oidc.delete(workspace);
    });
    return trust;
  }

  private async readOidcTrust(workspace: string): Promise<{ issuer: string; keys: JSONWebKeySet }> {
    const app = asApp().requestBitbucket;
    const [configuration, keys] = await Promise.all([
      getJson<{ issuer?: unknown }>(app, route`/2.0/workspaces/${workspace}/pipelines-config/identity/oidc/.well-known/openid-configuration`, this.retry),
      getJson<{ keys?: unknown }>(app, route`/2.0/workspaces/${workspace}/pipelines-config/identity/oidc/keys.json`, this.retry),
    ]);
    if (typeof configuration.issuer !== 'string' || !ISSUER.test(configuration.issuer) || !Array.isArray(keys.keys)) {
      throw new RequestError('BITBUCKET_ERROR', "Bitbucket did not publish this workspace's Pipelines OIDC issuer and keys in the form Countersign expects; run the step again, and check that OpenID Connect is enabled for Pipelines.");
    }
    return { issuer: configuration.issuer, keys: { keys: keys.keys.filter((k): k is JSONWebKeySet['keys'][number] => typeof k === 'object' && k !== null) } };
  }

  /** `GET …/pipelines/{uuid}` as the app: the commit it runs on, its branch or tag, who started it. */
  async getPipeline(workspace: string, repository: string, pipeline: string): Promise<PipelineFacts> {
    const found = await getJson<PipelineJson>(asApp().requestBitbucket, route`/2.0/repositories/${workspace}/${repository}/pipelines/${pipeline}`, this.retry);
    const commit = found.target?.commit?.hash;
    if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit)) {
      throw new RequestError('BITBUCKET_ERROR', `Bitbucket did not say which commit pipeline ${pipeline} runs on; run the step again.`);
    }
    const ref = refOf(found.target);
    return {
      uuid: found.uuid ?? pipeline,
      commit,
      ...(typeof found.build_number === 'number' ? { buildNumber: found.build_number } : {}),
      ...(ref ? { ref } : {}),
      ...(found.creator?.account_id ? { creator: found.creator.account_id } : {}),
    };
  }

  /** `GET …/commit/{commit}` as the app: `author.user.account_id`, absent when Bitbucket maps the author to no account. */
  async getCommitAuthor(workspace: string, repository: string, commit: string): Promise<string | undefined> {
    const found = await getJson<{ author?: { user?: Account } }>(asApp().requestBitbucket, route`/2.0/repositories/${workspace}/${repository}/commit/${commit}`, this.retry);
    return found.author?.user?.account_id;
  }

  /** `GET …/environments/{uuid}` as the app; undefined when the repository has no such environment (404). */
  async getEnvironment(workspace: string, repository: string, environment: string): Promise<{ uuid: string; name: string } | undefined> {
    try {
      const found = await getJson<{ uuid?: string; name?: string }>(asApp().requestBitbucket, route`/2.0/repositories/${workspace}/${repository}/environments/${environment}`, this.retry);
      return { uuid: found.uuid ?? environment, name: typeof found.name === 'string' && found.name ? found.name : environment };
    } catch (error) {
      if (error instanceof RequestError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
  }

  /** `GET …/refs/tags/{name}` or `…/refs/branches/{name}` as the app: `target.hash`, the tagged commit or the branch's head; undefined on 404. */
  async getRefTarget(workspace: string, repository: string, ref: DeploymentRef): Promise<string | undefined> {
    // A ref's name may hold `/` (`release/1.0`), which `route` refuses raw: it goes as one encoded segment.
    const name = encodeURIComponent(ref.name);
    const path =
      ref.type === 'tag'
        ? route`/2.0/repositories/${workspace}/${repository}/refs/tags/${name}`
        : route`/2.0/repositories/${workspace}/${repository}/refs/branches/${name}`;
    try {
      const found = await getJson<{ target?: { hash?: unknown } }>(asApp().requestBitbucket, path, this.retry);
      const hash = found.target?.hash;
      if (typeof hash !== 'string' || !/^[0-9a-f]{40}$/.test(hash)) {
        throw new RequestError('BITBUCKET_ERROR', `Bitbucket did not say which commit ${ref.type} ${ref.name} points at; run the step again.`);
      }
      return hash;
    } catch (error) {
      if (error instanceof RequestError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
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

  /** `GET …/environments` (`paginated_environments`), following `next` to the last page. */
  async listEnvironments(workspace: string, repository: string, as: Actor): Promise<DeploymentEnvironment[]> {
    const fetch = as === 'user' ? asUser().requestBitbucket : asApp().requestBitbucket;
    const found: DeploymentEnvironment[] = [];
    let page = await getJson<{ values: EnvironmentJson[]; next?: string }>(fetch, route`/2.0/repositories/${workspace}/${repository}/environments?pagelen=${ENVIRONMENTS_PAGE}`, this.retry);
    for (;;) {
      for (const env of page.values) {
        // An entry without a UUID or name cannot be gated or shown; the rest of the list still can.
        if (typeof env.uuid !== 'string' || typeof env.name !== 'string') continue;
        const type = env.environment_type?.name;
        found.push({ uuid: env.uuid, name: env.name, ...(typeof type === 'string' ? { type } : {}) });
      }
      if (!page.next) return found;
      page = await getJson(fetch, nextPage(page.next), this.retry);
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

/** A pipeline's branch or tag; none for a run on a bare commit, a pull request's, or a ref kind Git has no more (`named_branch`, `bookmark`). */
function refOf(target: PipelineJson['target']): DeploymentRef | undefined {
  if (target?.type !== 'pipeline_ref_target' || typeof target.ref_name !== 'string' || !target.ref_name) return undefined;
  if (target.ref_type === 'branch' || target.ref_type === 'tag') return { type: target.ref_type, name: target.ref_name };
  return undefined;
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
  if (response.status === 404) return new RequestError('NOT_FOUND', `Bitbucket could not find that pull request, pipeline or repository (${detail}).`);
  if (response.status === 401 || response.status === 403) {
    return new RequestError('FORBIDDEN', `Bitbucket refused Countersign access (${detail}); check the app's permissions.`);
  }
  if (response.status === 429 || response.status >= 500) {
    return new RequestError('BITBUCKET_ERROR', `Bitbucket answered ${response.status} (${detail}) and kept doing so through Countersign's retries; it will be re-evaluated on the next change, or try again in a few minutes.`);
  }
  return new RequestError('BITBUCKET_ERROR', `Bitbucket answered ${response.status} (${detail}); try again in a moment.`);
}
