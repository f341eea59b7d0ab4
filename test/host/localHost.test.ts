import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO } from '../../host/demo';
import { LocalHost } from '../../host/localHost';

const { admin, riley, author } = DEMO.people;

describe('the local Bitbucket host', () => {
  let dir: string;
  let host: LocalHost | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-host-'));
  });
  afterEach(async () => {
    await host?.close();
    host = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<string> {
    host = new LocalHost({ root: process.cwd(), statePath: join(dir, 'state.json') });
    return host.listen(0);
  }

  function post(url: string, path: string, body: unknown, as: string) {
    return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: `cs_user=${encodeURIComponent(as)}` }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
  }

  const settingsContext = { workspaceId: DEMO.workspace.uuid, extension: { type: 'bitbucket:repoSettingsMenuPage', repository: { uuid: DEMO.repository.uuid } } };
  const rules = [{ branchPattern: 'main', requirements: [{ group: 'Maintainers', members: [riley.accountId, DEMO.people.sam.accountId], count: 2 }] }];

  it('keeps policies, pull requests and commits on disk between runs', async () => {
    let url = await start();
    expect((await post(url, '/host/api/invoke', { functionKey: 'saveSettings', payload: { baseVersion: 0, rules }, context: settingsContext }, admin.accountId)).json).toMatchObject({ ok: true });
    const pushed = await post(url, '/host/api/push', { workspace: 'acme', repository: 'payments', pullRequest: 1 }, author.accountId);
    await host!.close();

    url = await start();
    const settings = await post(url, '/host/api/invoke', { functionKey: 'getSettings', context: settingsContext }, admin.accountId);
    expect(settings.json.data.policy).toMatchObject({ version: 1, rules: [{ branchPattern: 'main' }] });
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(1)!.commits.at(-1)!.hash).toBe(pushed.json.hash);
  });

  it('takes the principal from the signed-in account, never from the context the frame sends', async () => {
    const url = await start();
    const forged = { ...settingsContext, accountId: admin.accountId };
    const answer = await post(url, '/host/api/invoke', { functionKey: 'saveSettings', payload: { baseVersion: 0, rules }, context: forged }, riley.accountId);
    expect(answer.json).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    const settings = await post(url, '/host/api/invoke', { functionKey: 'getSettings', context: forged }, riley.accountId);
    expect(settings.json.data).toMatchObject({ me: riley.accountId, canEdit: false, policy: null });
  });

  it("answers the apps' Bitbucket requests as the signed-in user, in Bitbucket's shapes", async () => {
    const url = await start();
    const members = await post(url, '/host/api/product', { restPath: `/2.0/workspaces/${encodeURIComponent(DEMO.workspace.uuid)}/members?pagelen=4` }, riley.accountId);
    const page = JSON.parse(members.json.body);
    expect(members.json.status).toBe(200);
    expect(page.values).toHaveLength(4);
    expect(page.values[0]).toMatchObject({ type: 'workspace_membership', user: { type: 'user', account_id: expect.any(String), display_name: expect.any(String) } });
    expect(page.next).toContain('page=2');
  });

  it('merges only when the real merge check passes, and only on confirmation', async () => {
    const url = await start();
    await post(url, '/host/api/invoke', { functionKey: 'saveSettings', payload: { baseVersion: 0, rules }, context: settingsContext }, admin.accountId);
    const target = { workspace: 'acme', repository: 'payments', pullRequest: 1, confirm: true };
    const blocked = await post(url, '/host/api/merge', target, admin.accountId);
    expect(blocked.json).toEqual({ merged: false, check: { success: false, message: expect.stringContaining('Maintainers 0 of 2 signed') } });
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(1)!.state).toBe('OPEN');

    const ungated = await post(url, '/host/api/merge', { ...target, pullRequest: 2, confirm: false }, admin.accountId);
    expect(ungated.json).toMatchObject({ merged: false, check: { success: true } });
    expect((await post(url, '/host/api/merge', { ...target, pullRequest: 2 }, admin.accountId)).json.merged).toBe(true);
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(2)!.state).toBe('MERGED');
    expect((await post(url, '/host/api/merge', { ...target, pullRequest: 2 }, admin.accountId)).status).toBe(409);
  });

  it('serves the real app build with the fake bridge loaded before the bundle', async () => {
    const url = await start();
    const html = await (await fetch(`${url}/apps/pr-card/?workspace=${encodeURIComponent(DEMO.workspace.uuid)}&repository=${encodeURIComponent(DEMO.repository.uuid)}&pullRequest=1`, { headers: { cookie: `cs_user=${riley.accountId}` } })).text();
    expect(html.indexOf('/host/bridge.js')).toBeGreaterThan(-1);
    expect(html.indexOf('/host/bridge.js')).toBeLessThan(html.indexOf('./main.js'));
    expect(html).toContain(`"accountId":"${riley.accountId}"`);
    expect(html).toContain('"type":"bitbucket:repoPullRequestCard"');
  });
});
