import { asApp, asUser, NeedsAuthenticationError, route, routeFromAbsolute, type RequestProductMethod } from '@forge/api';
import { RequestError, type PullRequestFacts } from '../core';
import type { Actor, BitbucketPort, BuildState, RepositoryPermission } from '../ports';

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
  async getPullRequest(workspace: string, repository: string, pullRequest: number, as: Actor): Promise<PullRequestFacts> {
    const app = as === 'user' ? asUser().requestBitbucket : asApp().requestBitbucket;
    const base = route`/2.0/repositories/${workspace}/${repository}/pullrequests/${pullRequest}`;
    // The pull request carries only an abbreviated head hash; its commit list (newest first) gives the
    // full one. Both are read at once so the answer costs one round trip.
    const [pr, commits] = await Promise.all([
      getJson<PullRequestJson>(app, base),
      getJson<CommitsPage>(app, route`/2.0/repositories/${workspace}/${repository}/pullrequests/${pullRequest}/commits?pagelen=${COMMITS_PAGE}`),
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
      const more = await getJson<CommitsPage>(app, nextPage(next));
      allCommits.push(...more.values);
      next = more.next;
    }
    const commitAccounts = allCommits.map((c) => c.author?.user).filter((u): u is Account => !!u?.account_id);
    const accounts = [pr.author, ...(pr.participants ?? []).map((p) => p.user ?? {}), ...commitAccounts];
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
    };
  }

  async listOpenPullRequests(workspace: string, repository: string): Promise<number[]> {
    const app = asApp().requestBitbucket;
    const ids: number[] = [];
    let page = await getJson<{ values: { id: number }[]; next?: string }>(app, route`/2.0/repositories/${workspace}/${repository}/pullrequests?state=OPEN&pagelen=50`);
    for (;;) {
      ids.push(...page.values.map((pr) => pr.id));
      if (!page.next) return ids;
      page = await getJson(app, nextPage(page.next));
    }
  }

  async getMyAccount(): Promise<{ accountId: string; displayName: string | undefined }> {
    const me = await getJson<Account>(asUser().requestBitbucket, route`/2.0/user`);
    if (!me.account_id) throw new RequestError('BITBUCKET_ERROR', 'Bitbucket did not say which account is signed in; try again.');
    return { accountId: me.account_id, displayName: me.display_name };
  }

  async getMyPermission(workspace: string, repository: string): Promise<RepositoryPermission> {
    const query = `repository.uuid="${repository}"`;
    const page = await getJson<{ values: { permission?: RepositoryPermission }[] }>(
      asUser().requestBitbucket,
      route`/2.0/user/workspaces/${workspace}/permissions/repositories?q=${query}`,
    );
    return page.values[0]?.permission ?? 'none';
  }

  async postBuildStatus(
    workspace: string,
    repository: string,
    commit: string,
    status: { state: BuildState; description: string; url: string },
  ): Promise<void> {
    const response = await asApp().requestBitbucket(route`/2.0/repositories/${workspace}/${repository}/commit/${commit}/statuses/build`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        key: BUILD_STATUS_KEY,
        state: status.state,
        name: 'Countersign',
        description: status.description.slice(0, 255),
        url: status.url,
      }),
    });
    if (!response.ok) throw await toBitbucketError(response);
  }
}

function nextPage(next: string): ReturnType<typeof route> {
  if (new URL(next).origin !== 'https://api.bitbucket.org') {
    throw new RequestError('BITBUCKET_ERROR', 'Bitbucket returned an unexpected page link; try again.');
  }
  return routeFromAbsolute(next);
}

async function getJson<T>(fetch: RequestProductMethod, path: ReturnType<typeof route>): Promise<T> {
  let response: Awaited<ReturnType<RequestProductMethod>>;
  try {
    response = await fetch(path, { headers: { Accept: 'application/json' } });
  } catch (cause) {
    // Forge turns this error into the "Allow access" prompt for asUser() calls; it must pass through.
    if (cause instanceof NeedsAuthenticationError) throw cause;
    throw new RequestError('BITBUCKET_ERROR', 'Countersign could not reach Bitbucket; try again in a moment.', { cause });
  }
  if (!response.ok) throw await toBitbucketError(response);
  return (await response.json()) as T;
}

async function toBitbucketError(response: Awaited<ReturnType<RequestProductMethod>>): Promise<RequestError> {
  const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
  const detail = body?.error?.message ?? response.statusText;
  if (response.status === 404) return new RequestError('NOT_FOUND', `Bitbucket could not find that pull request or repository (${detail}).`);
  if (response.status === 401 || response.status === 403) {
    return new RequestError('FORBIDDEN', `Bitbucket refused Countersign access (${detail}); check the app's permissions.`);
  }
  return new RequestError('BITBUCKET_ERROR', `Bitbucket answered ${response.status} (${detail}); try again in a moment.`);
}
