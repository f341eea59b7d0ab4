/**
 * Every Bitbucket read the settings page makes, as the viewer through `requestBitbucket`, and the
 * scopes they need (checked against Bitbucket's API description by test/scopes.test.ts):
 * members and one membership need `read:workspace:bitbucket`, branches `read:repository:bitbucket`.
 */

/** What the page needs of `requestBitbucket`'s answer; injected so the logic is tested against the fake Bitbucket. */
export type BitbucketFetch = (path: string) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

/** Bitbucket's largest page: the fewest round trips through a 5,000-member workspace. */
export const PAGELEN = 100;

/** `GET /2.0/workspaces/{workspace}/members`: Bitbucket filters it only by email (admins only), so it is paged through. */
export const membersPath = (workspace: string) => `/2.0/workspaces/${encodeURIComponent(workspace)}/members?pagelen=${PAGELEN}`;

/** `GET /2.0/workspaces/{workspace}/members/{member}`: one person's membership and name, by account id. */
export const memberPath = (workspace: string, accountId: string) => `/2.0/workspaces/${encodeURIComponent(workspace)}/members/${encodeURIComponent(accountId)}`;

/** `GET /2.0/repositories/{workspace}/{repo_slug}/refs/branches`, optionally filtered with Bitbucket's `q`. */
export const branchesPath = (workspace: string, repository: string, q?: string) =>
  `/2.0/repositories/${encodeURIComponent(workspace)}/${encodeURIComponent(repository)}/refs/branches?pagelen=${PAGELEN}${q ? `&q=${encodeURIComponent(q)}` : ''}`;

/** A `next` link as `requestBitbucket` takes it: the path on api.bitbucket.org. */
export function relativeLink(link: string | undefined): string | undefined {
  return link?.replace(/^https:\/\/api\.bitbucket\.org/, '');
}

/** Reads one page, or throws an error saying what Bitbucket answered. */
export async function readJson<T>(fetch: BitbucketFetch, path: string, what: string): Promise<T> {
  const response = await fetch(path);
  if (!response.ok) throw new BitbucketReadError(response.status, `Bitbucket answered ${response.status} when ${what}`);
  return (await response.json()) as T;
}

export class BitbucketReadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Member {
  accountId: string;
  name: string;
}

/** A `workspace_membership` as Bitbucket returns it (only what is read here). */
export interface Membership {
  user: { account_id?: string; display_name: string };
}

export function memberOf(membership: Membership): Member | undefined {
  return membership.user.account_id ? { accountId: membership.user.account_id, name: membership.user.display_name } : undefined;
}
