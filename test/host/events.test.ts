import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO } from '../../host/demo';
import { LocalHost } from '../../host/localHost';
import { aSigner, signStatement, statementOf } from '../fixtures/world';

/** The local host as Forge: thin product events to the real triggers, queued re-evaluations to the real consumer, build statuses, auto-merge. */
const { admin, riley, sam, author, reader } = DEMO.people;
const WS = DEMO.workspace.uuid;
const REPO = DEMO.repository.uuid;

describe('events, statuses and auto-merge on the local host', () => {
  let dir: string;
  let host: LocalHost | undefined;
  let url: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-host-events-'));
    url = await start();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await host?.close();
    host = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<string> {
    host = new LocalHost({ root: process.cwd(), statePath: join(dir, 'state.json') });
    return host.listen(0);
  }

  function post(path: string, body: unknown, as: string) {
    return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: `cs_user=${encodeURIComponent(as)}` }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
  }
  const pageHtml = async (path: string, as: string) => (await fetch(`${url}${path}`, { headers: { cookie: `cs_user=${encodeURIComponent(as)}` } })).text();

  /** A resolver call from an app frame the host served on `path` to `as`, as the page makes it. */
  async function invoke(as: string, functionKey: string, payload?: unknown, path = '/acme/payments/admin/countersign') {
    const html = await pageHtml(path, as);
    const src = new URL(/<iframe[^>]* src="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&'));
    return (await post('/host/api/invoke', { frame: src.searchParams.get('frame'), functionKey, payload }, as)).json;
  }

  const repo = () => host!.forge.bitbucket.repositories[0]!;
  const pr = (id: number) => repo().pullRequests.get(id)!;
  const head = (id: number) => pr(id).commits.at(-1)!.hash;
  const status = (commit: string) => repo().statuses.filter((s) => s.commit === commit && s.key === 'countersign').at(-1);
  const delivered = () => host!.events.history.filter((d) => d.kind === 'trigger').map((d) => d.event as any);
  const target = { workspace: 'acme', repository: 'payments' };

  const maintainers = (extra: Record<string, unknown> = {}) => [
    { branchPattern: 'main', requirements: [{ group: 'Maintainers', members: [riley.accountId, sam.accountId], count: 2 }], commitStatus: true, ...extra },
  ];
  async function savePolicy(rules: unknown[]) {
    const current = await invoke(admin.accountId, 'getSettings');
    expect(await invoke(admin.accountId, 'saveSettings', { baseVersion: current.data.policy?.version ?? 0, rules })).toMatchObject({ ok: true });
  }

  /** Enrols a key for `accountId` and signs an approval of pull request 1's head, through the card's resolvers. */
  async function signAs(accountId: string) {
    const card = '/acme/payments/pull-requests/1';
    const signer = await aSigner(accountId);
    expect(await invoke(accountId, 'enrollKey', { publicKey: signer.publicKey, label: 'Laptop' }, card)).toMatchObject({ ok: true });
    const panel = (await invoke(accountId, 'getPanelState', undefined, card)).data;
    const statement = statementOf({
      workspace: WS,
      repository: REPO,
      pullRequest: 1,
      commit: panel.pullRequest.headCommit,
      targetBranch: panel.pullRequest.targetBranch,
      decision: 'approve',
      policy: panel.policy.hash,
      signer: accountId,
      keyId: signer.keyId,
      issuedAt: new Date().toISOString(),
      challenge: panel.challenge.value,
    });
    expect(await invoke(accountId, 'submitDecision', { envelope: await signStatement(signer, statement) }, card)).toMatchObject({ ok: true });
  }

  it('tells the app the demo pull requests were opened, with ids and a 12-hex commit only', async () => {
    await host!.events.idle();
    expect(delivered()).toEqual(
      [1, 2, 3].map((id) => ({
        eventType: 'avi:bitbucket:created:pullrequest',
        actor: { type: 'user', accountId: pr(id).author },
        workspace: { uuid: WS },
        repository: { uuid: REPO },
        pullrequest: { id, source: { commit: { hash: head(id).slice(0, 12) } } },
      })),
    );
  });

  it('runs the re-evaluations a policy save queues, and a push sends push and updated events that start the new head at INPROGRESS', async () => {
    await savePolicy(maintainers());
    await host!.events.idle();
    expect(status(head(1))).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('Maintainers 0 of 2 signed'), refname: 'feature/refunds' });
    // Only pull requests into main are gated.
    expect(status(head(2))).toBeUndefined();

    const old = head(1);
    const pushed = await post('/host/api/push', { ...target, pullRequest: 1 }, author.accountId);
    expect(pushed.status).toBe(200);
    await host!.events.idle();
    expect(pushed.json.hash).toBe(head(1));
    expect(delivered().slice(-2)).toEqual([
      { eventType: 'avi:bitbucket:push:repository', actor: { type: 'user', accountId: author.accountId }, workspace: { uuid: WS }, repository: { uuid: REPO } },
      { eventType: 'avi:bitbucket:updated:pullrequest', actor: { type: 'user', accountId: author.accountId }, workspace: { uuid: WS }, repository: { uuid: REPO }, pullrequest: { id: 1, source: { commit: { hash: head(1).slice(0, 12) } } } },
    ]);
    expect(status(head(1))).toMatchObject({ state: 'INPROGRESS' });
    expect(status(old)).toMatchObject({ state: 'INPROGRESS' });
    // The PR page shows the head commit's status.
    const html = await pageHtml('/acme/payments/pull-requests/1', riley.accountId);
    expect(html).toMatch(/data-testid="build-countersign" data-state="INPROGRESS">.*Maintainers 0 of 2 signed/);
    const polled = await post('/host/api/pull-request', { ...target, pullRequest: 1 }, riley.accountId);
    expect(polled.json).toEqual({ state: 'OPEN', head: head(1), builds: expect.stringContaining('INPROGRESS') });
  });

  it('turns the status green and auto-merges with the rule\'s strategy once the signatures that decisions queue complete the quorum', async () => {
    await savePolicy(maintainers({ autoMerge: true, mergeStrategy: 'squash' }));
    await signAs(riley.accountId);
    await host!.events.idle();
    expect(status(head(1))).toMatchObject({ state: 'INPROGRESS', description: expect.stringContaining('1 of 2') });
    expect(pr(1).state).toBe('OPEN');

    await signAs(sam.accountId);
    await host!.events.idle();
    expect(status(head(1))?.state).toBe('SUCCESSFUL');
    expect(pr(1).state).toBe('MERGED');
    expect(repo().merges).toEqual([{ pullRequest: 1, strategy: 'squash', commit: head(1), mergeCommit: expect.stringMatching(/^[0-9a-f]{40}$/) }]);
    // Bitbucket tells the app of its own merge, which finds it already recorded.
    const fulfilled = host!.events.history.filter((d) => (d.event as any).eventType === 'avi:bitbucket:fulfilled:pullrequest');
    expect(fulfilled).toEqual([expect.objectContaining({ event: expect.objectContaining({ actor: { type: 'app' } }), outcome: { commit: head(1) } })]);
    expect(await pageHtml('/acme/payments/pull-requests/1', riley.accountId)).toContain('Merged by Countersign (auto-merge, squash)');
    expect((await invoke(riley.accountId, 'getPanelState', undefined, '/acme/payments/pull-requests/1')).data.autoMerge).toMatchObject({ state: 'merged', strategy: 'squash' });
  });

  it('lets only an admin require passing builds, keeps the switch across restarts, and then merges on the status instead of the merge check', async () => {
    const switchOn = { ...target, required: true };
    expect(await post('/host/api/builds-required', switchOn, riley.accountId)).toEqual({ status: 403, json: { message: 'Riley Park is not an admin of acme/payments; only repository admins can change which merge checks apply.' } });
    expect((await post('/host/api/builds-required', { ...target, required: 'yes' }, admin.accountId)).status).toBe(400);
    expect(await post('/host/api/builds-required', switchOn, admin.accountId)).toEqual({ status: 200, json: { requirePassingBuilds: true } });
    await host!.close();
    url = await start();
    expect(repo().requirePassingBuilds).toBe(true);
    expect(await pageHtml('/acme/payments/pull-requests/2', admin.accountId)).toMatch(/id="require-builds" checked>/);
    expect(await pageHtml('/acme/payments/pull-requests/2', riley.accountId)).toMatch(/id="require-builds" checked disabled>/);

    // No rule covers docs: the merge check passes, but no build has reported on the head.
    const merge = { ...target, pullRequest: 2, confirm: true };
    expect(await post('/host/api/merge', merge, riley.accountId)).toEqual({
      status: 200,
      json: { merged: false, gate: 'builds', check: { success: false, message: `No build has reported on commit ${head(2).slice(0, 7)} yet; merging needs passing builds.` } },
    });
    const ci = (state: string) => host!.forge.bitbucket.handle('POST', `/2.0/repositories/acme/payments/commit/${head(2)}/statuses/build`, { key: 'ci', state, name: 'CI', description: 'Unit tests', url: 'https://ci.example/1' }, undefined);
    ci('FAILED');
    expect((await post('/host/api/merge', merge, riley.accountId)).json.check).toEqual({ success: false, message: `Merging needs passing builds on commit ${head(2).slice(0, 7)}: CI is FAILED (Unit tests).` });
    ci('SUCCESSFUL');
    expect((await post('/host/api/merge', merge, riley.accountId)).json).toEqual({ merged: true, gate: 'builds', check: { success: true, message: `1 of 1 builds passed on commit ${head(2).slice(0, 7)}.` } });
    expect(pr(2).state).toBe('MERGED');

    // Off again: the merge check decides (pull request 1 has no builds at all).
    await post('/host/api/builds-required', { ...target, required: false }, admin.accountId);
    expect((await post('/host/api/merge', { ...target, pullRequest: 1, confirm: false }, riley.accountId)).json).toMatchObject({ gate: 'merge-check', check: { success: true } });
  });

  it('holds the app\'s own merge to Require passing builds: a failing build elsewhere stops auto-merge, and the card says why', async () => {
    await savePolicy(maintainers({ autoMerge: true, mergeStrategy: 'squash' }));
    await post('/host/api/builds-required', { ...target, required: true }, admin.accountId);
    host!.forge.bitbucket.handle('POST', `/2.0/repositories/acme/payments/commit/${head(1)}/statuses/build`, { key: 'ci', state: 'FAILED', name: 'CI', url: 'https://ci.example/2' }, undefined);
    await signAs(riley.accountId);
    await signAs(sam.accountId);
    await host!.events.idle();
    expect(status(head(1))?.state).toBe('SUCCESSFUL');
    expect(pr(1).state).toBe('OPEN');
    expect(repo().merges ?? []).toEqual([]);
    const panel = (await invoke(riley.accountId, 'getPanelState', undefined, '/acme/payments/pull-requests/1')).data;
    expect(panel.autoMerge).toMatchObject({ state: 'failed', reason: expect.stringContaining('CI is FAILED') });
  });

  it('declines for someone with write access, sends rejected, and then takes no merge or push', async () => {
    const decline = { ...target, pullRequest: 1 };
    expect(await post('/host/api/decline', decline, reader.accountId)).toEqual({ status: 403, json: { message: 'Casey Reader has read access to acme/payments; declining needs write access.' } });
    expect(await post('/host/api/decline', decline, riley.accountId)).toEqual({ status: 200, json: { state: 'DECLINED' } });
    await host!.events.idle();
    expect(delivered().at(-1)).toMatchObject({ eventType: 'avi:bitbucket:rejected:pullrequest', actor: { type: 'user', accountId: riley.accountId }, pullrequest: { id: 1 } });
    expect((await post('/host/api/merge', { ...decline, confirm: true }, riley.accountId)).status).toBe(409);
    expect((await post('/host/api/push', decline, author.accountId)).status).toBe(409);
    expect((await post('/host/api/decline', decline, riley.accountId)).json).toEqual({ message: 'Pull request #1 is already declined.' });
    expect(await pageHtml('/acme/payments/pull-requests/1', riley.accountId)).toMatch(/id="decline" disabled/);
  });

  it('logs a consumer that throws and goes on delivering, in order', async () => {
    const logged = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    await savePolicy(maintainers());
    await host!.events.idle();
    const order: string[] = [];
    host!.forge.queue.consumer('broken', async (event) => {
      order.push(event.eventId);
      throw new Error('the consumer broke');
    });
    host!.forge.queue.pending.push({ queueName: 'broken', jobId: 'j', eventId: 'first', body: {} }, { queueName: 'broken', jobId: 'j', eventId: 'second', body: {} });
    await post('/host/api/push', { ...target, pullRequest: 1 }, author.accountId);
    await host!.events.idle();
    expect(order).toEqual(['first', 'second']);
    expect(logged).toHaveBeenCalledWith('Local host: the queue consumer failed on the queued event first of broken.', expect.any(Error));
    expect(status(head(1))?.state).toBe('INPROGRESS');
    expect(host!.forge.queue.pending).toEqual([]);
  });
});
