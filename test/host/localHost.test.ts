import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO } from '../../host/demo';
import { LocalHost } from '../../host/localHost';
import { branchesOf } from '../../dev/fakeBitbucket';

const { admin, riley, author, reader, sam } = DEMO.people;

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

  const page = (url: string, path: string, as: string) => fetch(`${url}${path}`, { headers: { cookie: `cs_user=${encodeURIComponent(as)}` } });

  /**
   * Opens a page as `as` and its app frame, as the browser does: the page names the frame by a token,
   * the frame's document comes from the frames' origin (with no cookie), and the page posts the frame's calls with that token.
   */
  async function openFrame(url: string, as: string, path = '/acme/payments/admin/countersign') {
    const pageHtml = await (await page(url, path, as)).text();
    const src = new URL(/<iframe[^>]* src="([^"]+)"/.exec(pageHtml)![1]!.replace(/&#38;/g, '&'));
    const response = await fetch(src);
    return { src, pageHtml, response, html: await response.text(), frame: src.searchParams.get('frame')! };
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
    const { frame } = await openFrame(url, riley.accountId);
    const forged = { frame, functionKey: 'saveSettings', payload: { baseVersion: 0, rules }, context: { accountId: admin.accountId, workspaceId: '{00000000-0000-4000-8000-000000000000}' } };
    expect((await post(url, '/host/api/invoke', forged, riley.accountId)).json).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    const settings = await post(url, '/host/api/invoke', { frame, functionKey: 'getSettings' }, riley.accountId);
    expect(settings.json.data).toMatchObject({ me: riley.accountId, workspace: DEMO.workspace.uuid, canEdit: false, policy: null });
    const unknown = await post(url, '/host/api/invoke', { frame: 'f'.repeat(32), functionKey: 'getSettings' }, riley.accountId);
    expect(unknown).toEqual({ status: 409, json: { message: expect.stringContaining('reload the page'), reload: true } });
  });

  it('tells a page opened as someone else since to reload, rather than act for whoever signed in after', async () => {
    const url = await start();
    const { frame } = await openFrame(url, riley.accountId, '/acme/payments/pull-requests/1');
    const stale = await post(url, '/host/api/invoke', { frame, functionKey: 'getSettings' }, sam.accountId);
    expect(stale).toEqual({ status: 409, json: { message: 'This page was opened as Riley Park, but Sam Ortiz signed in since (in another tab); reload the page.', reload: true } });
    expect((await post(url, '/host/api/product', { frame, restPath: '/2.0/user' }, sam.accountId)).status).toBe(409);
  });

  it('serves the app frames from another site than the pages, with no API there and only inside the host pages', async () => {
    const url = await start();
    const { src, response, html, pageHtml } = await openFrame(url, riley.accountId);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(src.origin).toBe(host!.frameOrigin);
    expect(src.hostname).toBe('localhost');
    expect(pageHtml).toContain(`data-frame-origin="${host!.frameOrigin}"`);
    expect(response.headers.get('content-security-policy')).toBe(`frame-ancestors ${url}`);
    expect(html).toContain(`"hostOrigin":"${url}"`);
    expect(html).not.toContain(src.searchParams.get('frame')!);

    expect((await page(url, `/apps/settings/?frame=${src.searchParams.get('frame')}`, riley.accountId)).status).toBe(404);
    const onFrames = await fetch(`${host!.frameOrigin}/host/api/invoke`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: `cs_user=${encodeURIComponent(admin.accountId)}` }, body: JSON.stringify({ frame: src.searchParams.get('frame'), functionKey: 'getSettings' }) });
    expect(onFrames.status).toBe(405);
    expect((await fetch(`${host!.frameOrigin}/acme/payments/admin/countersign`)).status).toBe(404);
    expect((await fetch(`${host!.frameOrigin}/apps/settings/?frame=${'0'.repeat(32)}`)).status).toBe(404);
    const frameFromElsewhere = await fetch(`${url}/host/api/invoke`, { method: 'POST', headers: { 'content-type': 'application/json', origin: host!.frameOrigin, cookie: `cs_user=${encodeURIComponent(riley.accountId)}` }, body: '{}' });
    expect(frameFromElsewhere.status).toBe(403);
    expect((await page(url, '/', riley.accountId)).headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
  });

  it('refuses, with the fix, to serve the frames from the pages\' own host name or from a port in use', async () => {
    const same = new LocalHost({ root: process.cwd(), statePath: join(dir, 'state.json'), frameHostname: '127.0.0.1' });
    await expect(same.listen(0)).rejects.toThrow('The app frames must be served under another host name than the pages (127.0.0.1), as Forge serves them from another site; set COUNTERSIGN_FRAME_HOST to another one.');
    const url = await start();
    const taken = Number(new URL(url).port);
    const second = new LocalHost({ root: process.cwd(), statePath: join(dir, 'state.json') });
    await expect(second.listen(0, '127.0.0.1', taken)).rejects.toThrow(`Port ${taken} (for the app frames) is in use; stop what runs there or set FRAME_PORT to a free port.`);
    expect((await page(url, '/', riley.accountId)).status).toBe(200);
  });

  it('sends the pages opened as localhost (the frames\' site) to 127.0.0.1', async () => {
    const url = await start();
    const port = new URL(url).port;
    const response = await new Promise<IncomingMessage>((resolve, reject) => get(`${url}/acme/payments/pull-requests/1?x=1`, { headers: { host: `localhost:${port}` } }, resolve).on('error', reject));
    response.resume();
    expect(response.statusCode).toBe(308);
    expect(response.headers.location).toBe(`${url}/acme/payments/pull-requests/1?x=1`);
  });

  it('remembers who you act as for a year, so it survives a browser restart', async () => {
    const url = await start();
    const picked = await fetch(`${url}/host/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ accountId: sam.accountId, theme: 'dark' }) });
    expect(picked.headers.getSetCookie()).toEqual([`cs_user=${encodeURIComponent(sam.accountId)}; Path=/; Max-Age=31536000; SameSite=Lax`, 'cs_theme=dark; Path=/; Max-Age=31536000; SameSite=Lax']);
  });

  it('shows no Merge button to someone who can only read the repository, and refuses their merge', async () => {
    const url = await start();
    expect(await (await page(url, '/acme/payments/pull-requests/2', riley.accountId)).text()).toContain('id="merge"');
    const readerPage = await (await page(url, '/acme/payments/pull-requests/2', reader.accountId)).text();
    expect(readerPage).not.toContain('id="merge"');
    expect(readerPage).not.toContain('>Merge<');
    const merge = await post(url, '/host/api/merge', { workspace: 'acme', repository: 'payments', pullRequest: 2, confirm: true }, reader.accountId);
    expect(merge).toEqual({ status: 403, json: { message: 'Casey Reader has read access to acme/payments; merging needs write access.' } });
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(2)!.state).toBe('OPEN');
    // Nor can they push, as Bitbucket refuses a reader's push.
    expect(readerPage).not.toContain('id="push-commit"');
    const commits = host!.forge.bitbucket.repositories[0]!.pullRequests.get(2)!.commits.length;
    const push = await post(url, '/host/api/push', { workspace: 'acme', repository: 'payments', pullRequest: 2 }, reader.accountId);
    expect(push).toEqual({ status: 403, json: { message: 'Casey Reader has read access to acme/payments; pushing needs write access.' } });
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(2)!.commits).toHaveLength(commits);
  });

  it("lists the branches of every open pull request among the repository's branches", async () => {
    await start();
    const repo = host!.forge.bitbucket.repositories[0]!;
    expect(branchesOf(repo)).toEqual(expect.arrayContaining(['release/1', 'hotfix/refund-rounding', 'feature/refunds', 'main']));
  });

  it('has a demo pull request into release/1 that a release/* rule gates', async () => {
    const url = await start();
    const pr = host!.forge.bitbucket.repositories[0]!.pullRequests.get(3)!;
    expect(pr).toMatchObject({ targetBranch: 'release/1', state: 'OPEN' });
    expect(await (await page(url, '/', riley.accountId)).text()).toContain('release/1');
    const release = [{ branchPattern: 'release/*', requirements: [{ group: 'Release managers', members: [riley.accountId, DEMO.people.jordan.accountId], count: 1 }] }];
    expect((await invoke(url, admin.accountId, 'saveSettings', { baseVersion: 0, rules: release })).json).toMatchObject({ ok: true });
    const target = { workspace: 'acme', repository: 'payments', confirm: false };
    expect((await post(url, '/host/api/merge', { ...target, pullRequest: 3 }, admin.accountId)).json.check).toMatchObject({ success: false, message: expect.stringContaining('Release managers 0 of 1 signed') });
    expect((await post(url, '/host/api/merge', { ...target, pullRequest: 1 }, admin.accountId)).json.check.success).toBe(true);
  });

  it('starts again from the demo workspace when the state file is deleted while it runs, or on Reset demo', async () => {
    const url = await start();
    const statePath = join(dir, 'state.json');
    const saved = async () => (await invoke(url, admin.accountId, 'getSettings')).json.data.policy;
    for (const wipe of [() => rmSync(statePath), () => post(url, '/host/api/reset', {}, riley.accountId)]) {
      expect((await invoke(url, admin.accountId, 'saveSettings', { baseVersion: 0, rules })).json).toMatchObject({ ok: true });
      await post(url, '/host/api/push', { workspace: 'acme', repository: 'payments', pullRequest: 1 }, author.accountId);
      const { frame } = await openFrame(url, admin.accountId);
      await wipe();
      expect(await saved()).toBeNull();
      expect(existsSync(statePath)).toBe(true);
      expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(1)!.commits).toHaveLength(2);
      expect((await post(url, '/host/api/invoke', { frame, functionKey: 'getSettings' }, admin.accountId)).json.reload).toBe(true);
    }
    await host!.close();
    await start();
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(1)!.commits).toHaveLength(2);
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
    const { frame } = await openFrame(url, riley.accountId);
    const members = await post(url, '/host/api/product', { frame, restPath: `/2.0/workspaces/${encodeURIComponent(DEMO.workspace.uuid)}/members?pagelen=4` }, riley.accountId);
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
    expect(blocked.json).toEqual({ merged: false, gate: 'merge-check', check: { success: false, message: expect.stringContaining('Maintainers 0 of 2 signed') } });
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(1)!.state).toBe('OPEN');

    const ungated = await post(url, '/host/api/merge', { ...target, pullRequest: 2, confirm: false }, admin.accountId);
    expect(ungated.json).toMatchObject({ merged: false, check: { success: true } });
    expect((await post(url, '/host/api/merge', { ...target, pullRequest: 2 }, admin.accountId)).json.merged).toBe(true);
    expect(host!.forge.bitbucket.repositories[0]!.pullRequests.get(2)!.state).toBe('MERGED');
    expect((await post(url, '/host/api/merge', { ...target, pullRequest: 2 }, admin.accountId)).status).toBe(409);
  });

  it('serves the real app build with the fake bridge loaded before the bundle', async () => {
    const url = await start();
    const { html } = await openFrame(url, riley.accountId, '/acme/payments/pull-requests/1');
    expect(html.indexOf('/host/bridge.js')).toBeGreaterThan(-1);
    expect(html.indexOf('/host/bridge.js')).toBeLessThan(html.indexOf('./main.js'));
    expect(html).toContain(`"accountId":"${riley.accountId}"`);
    expect(html).toContain('"type":"bitbucket:repoPullRequestCard"');
    expect(html).toContain('"pullRequest":{"id":1}');
  });

  it('serves only files inside its own folders', async () => {
    const url = await start();
    expect((await fetch(`${host!.frameOrigin}/host/bridge.js`)).status).toBe(200);
    expect((await fetch(`${host!.frameOrigin}/host/page.js`)).status).toBe(404);
    for (const path of [`${url}/host/..%2Fpackage.json`, `${host!.frameOrigin}/host/..%2Fpackage.json`, `${host!.frameOrigin}/apps/settings/..%2F..%2F..%2Fpackage.json`]) {
      const response = await fetch(path);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('"name": "countersign"');
    }
  });
});
