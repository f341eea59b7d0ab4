import { requestBitbucket } from '@forge/bridge';

export interface Member {
  accountId: string;
  name: string;
}

const MAX_PAGES = 20;

/** The workspace's members, read as the viewer through the bridge, following Bitbucket's `next` links. */
export async function loadWorkspaceMembers(workspace: string): Promise<Member[]> {
  const members: Member[] = [];
  let path: string | undefined = `/2.0/workspaces/${encodeURIComponent(workspace)}/members?pagelen=100`;
  for (let page = 0; path && page < MAX_PAGES; page++) {
    const response = await requestBitbucket(path);
    if (!response.ok) throw new Error(`Bitbucket answered ${response.status} when listing workspace members`);
    const body = (await response.json()) as { values: { user: { account_id?: string; display_name: string } }[]; next?: string };
    for (const { user } of body.values) if (user.account_id) members.push({ accountId: user.account_id, name: user.display_name });
    path = body.next ? body.next.replace(/^https:\/\/api\.bitbucket\.org/, '') : undefined;
  }
  return members.sort((a, b) => a.name.localeCompare(b.name));
}
