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

  /** Opens an app frame as `as`, as the host page's iframe does, and returns the token its bridge calls with. */
  async function openFrame(url: string, as: string, app = 'settings', query = `workspace=${encodeURIComponent(DEMO.workspace.uuid)}&repository=${encodeURIComponent(DEMO.repository.uuid)}`) {
    const html = await (await fetch(`${url}/apps/${app}/?${query}`, { headers: { cookie: `cs_user=${encodeURIComponent(as)}` } })).text();
    return { html, frame: /"token":"([0-9a-f]+)"/.exec(html)![1]! };
  }

  async function invoke(url: string, as: string, functionKey: string, payload?: unknown) {
    const { frame } = await openFrame(url, as);
    return post(url, '/host/api/invoke', { frame, functionKey, payload }, as);
  }

  const rules = [{ branchPattern: 'main', requirements: [{ group: 'Maintainers', members: [riley.accountId, DEMO.people.sam.accountId], count: 2 }] }];

  it('keeps policies, pull requests and commits on disk between runs', async () => {
    let url = await start();
    expect((await invoke(url, admin.accountId, 'saveSettings', { baseVersion: 0, rules })).json).toMatchObject({ ok: true });
    const pushed = await post(url, '/host/api/push', { workspace: 'acme', repository: 'payments', pullRequest: 1 }, author.accountId);
    await host!.close();

    url = await start();
    const settings = await invoke(url, admin.accountId, 'getSettings');
    expect(settings.json.data.policy).toMatchObject({ version: 1, rules: [{ branchPattern: 'main' }] });
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(1)!.commits.at(-1)!.hash).toBe(pushed.json.hash);
  });

  it('takes the principal from the signed-in account and the context from the frame it served, never from the request', async () => {
    const url = await start();
    const { frame } = await openFrame(url, admin.accountId);
    const forged = { frame, functionKey: 'saveSettings', payload: { baseVersion: 0, rules }, context: { accountId: admin.accountId, workspaceId: '{00000000-0000-4000-8000-000000000000}' } };
    expect((await post(url, '/host/api/invoke', forged, riley.accountId)).json).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    const settings = await post(url, '/host/api/invoke', { frame, functionKey: 'getSettings' }, riley.accountId);
    expect(settings.json.data).toMatchObject({ me: riley.accountId, workspace: DEMO.workspace.uuid, canEdit: false, policy: null });
    expect((await post(url, '/host/api/invoke', { frame: 'f'.repeat(32), functionKey: 'getSettings' }, riley.accountId)).status).toBe(400);
  });

  it('accepts changes only as JSON, from its own origin, from someone signed in', async () => {
    const url = await start();
    const { frame } = await openFrame(url, admin.accountId);
    const body = JSON.stringify({ frame, functionKey: 'saveSettings', payload: { baseVersion: 0, rules } });
    const as = { cookie: `cs_user=${encodeURIComponent(admin.accountId)}` };
    const attempts: { headers: Record<string, string>; status: number }[] = [
      { headers: { ...as, 'content-type': 'text/plain' }, status: 415 },
      { headers: { ...as, 'content-type': 'application/json', origin: 'https://evil.example' }, status: 403 },
      { headers: { 'content-type': 'application/json', origin: url }, status: 401 },
    ];
    for (const { headers, status } of attempts) {
      expect((await fetch(`${url}/host/api/invoke`, { method: 'POST', headers, body })).status).toBe(status);
    }
    expect((await invoke(url, admin.accountId, 'getSettings')).json.data.policy).toBeNull();
    const fromPage = await fetch(`${url}/host/api/invoke`, { method: 'POST', headers: { ...as, 'content-type': 'application/json', origin: url }, body });
    expect(((await fromPage.json()) as any).ok).toBe(true);
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
    await invoke(url, admin.accountId, 'saveSettings', { baseVersion: 0, rules });
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
    const { html } = await openFrame(url, riley.accountId, 'pr-card', `workspace=${encodeURIComponent(DEMO.workspace.uuid)}&repository=${encodeURIComponent(DEMO.repository.uuid)}&pullRequest=1`);
    expect(html.indexOf('/host/bridge.js')).toBeGreaterThan(-1);
    expect(html.indexOf('/host/bridge.js')).toBeLessThan(html.indexOf('./main.js'));
    expect(html).toContain(`"accountId":"${riley.accountId}"`);
    expect(html).toContain('"type":"bitbucket:repoPullRequestCard"');
  });

  it('serves only files inside its own folders', async () => {
    const url = await start();
    expect((await fetch(`${url}/host/bridge.js`)).status).toBe(200);
    for (const path of ['/host/..%2Fpackage.json', '/apps/settings/..%2F..%2F..%2Fpackage.json']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('"name": "countersign"');
    }
  });
});
