import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DEPLOYMENT_GATE_AUDIENCE } from '../../src/core';
import { DEMO } from '../../host/demo';
import { LocalHost } from '../../host/localHost';

const { admin, riley, sam, jordan, reader } = DEMO.people;
const { staging, production } = DEMO.environments;
const OIDC = `/2.0/workspaces/${DEMO.workspace.slug}/pipelines-config/identity/oidc`;

describe("the local host's Pipelines", () => {
  let dir: string;
  let host: LocalHost | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-pipelines-'));
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

  const post = (url: string, path: string, body: unknown, as: string) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: `cs_user=${encodeURIComponent(as)}` }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));

  async function invoke(url: string, as: string, functionKey: string, payload?: unknown) {
    const html = await (await fetch(`${url}/acme/payments/admin/countersign`, { headers: { cookie: `cs_user=${encodeURIComponent(as)}` } })).text();
    const frame = new URL(/<iframe[^>]* src="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&')).searchParams.get('frame');
    return post(url, '/host/api/invoke', { frame, functionKey, payload }, as);
  }

  const run = (url: string, as: string, environment: string, ref: object, gate = true) => post(url, '/host/api/pipelines/run', { workspace: 'acme', repository: 'payments', environment, ref, gate }, as);

  /** Staging: 1 of Maintainers (Riley, Sam), from main. */
  const gateStaging = (url: string) =>
    invoke(url, admin.accountId, 'saveSettings', {
      baseVersion: 0,
      rules: [],
      environments: [{ environment: staging.uuid, name: staging.name, requirements: [{ group: 'Maintainers', members: [riley.accountId, sam.accountId], count: 1 }], branches: ['main'] }],
    });

  describe('the OIDC issuer on loopback', () => {
    it('serves the workspace’s OpenID configuration and keys.json on the host’s origin, without a session', async () => {
      const url = await start();
      const configuration = (await (await fetch(`${url}${OIDC}/.well-known/openid-configuration`)).json()) as any;
      expect(configuration).toMatchObject({ issuer: `https://api.bitbucket.org${OIDC}`, jwks_uri: `https://api.bitbucket.org${OIDC}/keys.json` });
      const keys = (await (await fetch(`${url}${OIDC}/keys.json`)).json()) as any;
      expect(keys.keys).toHaveLength(1);
      expect(keys.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(keys.keys[0].d).toBeUndefined();
      expect((await fetch(`${url}/2.0/workspaces/nobody/pipelines-config/identity/oidc/keys.json`)).status).toBe(404);
    });

    it('keeps its keys, tags and deployments in the state file: a token minted in one run verifies against the keys the next run serves', async () => {
      let url = await start();
      const before = await (await fetch(`${url}${OIDC}/keys.json`)).json();
      const repo = host!.forge.bitbucket.repositories[0]!;
      const pipeline = host!.forge.bitbucket.seedPipeline(repo, { commit: repo.heads!.main!, ref: { type: 'branch', name: 'main' } });
      const token = await host!.forge.bitbucket.mintStepToken(repo, { pipeline: pipeline.uuid, environment: staging.uuid, audience: DEPLOYMENT_GATE_AUDIENCE });
      // A deploy that skips the gate (so this run's app never caches the keys) leaves a tag, a pipeline and a deployment behind.
      const deployed = await run(url, jordan.accountId, production.uuid, { type: 'tag', name: 'v1.0.0' }, false);
      expect(deployed.json.deployed).toBe(true);
      await host!.close();

      url = await start();
      const after = (await (await fetch(`${url}${OIDC}/keys.json`)).json()) as any;
      expect(after).toEqual(before);
      const { payload } = await jwtVerify(token, createLocalJWKSet(after), { issuer: `https://api.bitbucket.org${OIDC}`, audience: DEPLOYMENT_GATE_AUDIENCE });
      expect(payload).toMatchObject({ pipelineUuid: pipeline.uuid, deploymentEnvironmentUuid: staging.uuid });
      const html = await (await fetch(`${url}/acme/payments/pipelines`, { headers: { cookie: `cs_user=${jordan.accountId}` } })).text();
      expect(html).toContain(`Production: <code>${deployed.json.commit.slice(0, 7)}</code> (tag v1.0.0), deployed by Jordan Lee`);
      expect(host!.forge.bitbucket.repositories[0]!.tags).toEqual([{ name: 'v1.0.0', commit: deployed.json.commit }]);
    });
  });

  // One host for the gate's calls: the app caches the workspace's keys, as on Forge, and a fresh demo would make new ones.
  describe('with one host', () => {
    let url: string;
    let shared: LocalHost;
    let sharedDir: string;
    beforeAll(async () => {
      sharedDir = mkdtempSync(join(tmpdir(), 'countersign-pipelines-'));
      shared = new LocalHost({ root: process.cwd(), statePath: join(sharedDir, 'state.json') });
      url = await shared.listen(0);
    });
    afterAll(async () => {
      await shared.close();
      rmSync(sharedDir, { recursive: true, force: true });
    });
    const repo = () => shared.forge.bitbucket.repositories[0]!;

    it('shows the demo configuration unchanged while nothing is gated, then with the gate inserted before the gated deployment', async () => {
      const page = async () => (await fetch(`${url}/acme/payments/pipelines`, { headers: { cookie: `cs_user=${riley.accountId}` } })).text();
      const before = await page();
      expect(before).toContain('data-testid="provided-pipeline"');
      expect(before).not.toContain('data-testid="gate-line"');
      expect((await gateStaging(url)).json).toMatchObject({ ok: true });
      const marked = [...(await page()).matchAll(/<mark data-testid="gate-line">([^<]*)<\/mark>/g)].map((m) => m[1]!);
      expect(marked).toHaveLength(2);
      expect(marked.filter((line) => /^\s+- countersign-deployment-gate$/.test(line))).toHaveLength(1);
      const command = marked.find((line) => line.includes(': countersign-deployment-gate;'));
      expect(command).toContain('https://countersign-local.hello.atlassian-dev.net/x1/countersign-deployment-gate');
    });

    it('lets an ungated environment deploy: the gate answers 200 not gated, and the page says where it is deployed', async () => {
      const { status, json } = await run(url, jordan.accountId, production.uuid, { type: 'branch', name: 'main' });
      expect(status).toBe(200);
      expect(json.gate).toMatchObject({ status: 200, body: { allowed: true, gated: false } });
      expect(json.deployed).toBe(true);
      expect(repo().deployments!.at(-1)).toMatchObject({ environment: production.uuid, state: 'COMPLETED', status: 'SUCCESSFUL' });
      const html = await (await fetch(`${url}/acme/payments/pipelines`, { headers: { cookie: `cs_user=${jordan.accountId}` } })).text();
      expect(html).toContain(`Production: <code>${json.commit.slice(0, 7)}</code> (branch main), deployed by Jordan Lee`);
    });

    it('shows the gate refusing a gated environment with what is missing, and fails the step without flagging it', async () => {
      const refused = await run(url, jordan.accountId, staging.uuid, { type: 'branch', name: 'main' });
      expect(refused.json.gate).toMatchObject({ status: 403, body: { allowed: false, code: 'APPROVALS_MISSING', missing: [expect.stringContaining('Maintainers: 0 of 1')] } });
      expect(refused.json.deployed).toBe(false);
      expect(refused.json.events.map((e: any) => [e.eventType, e.outcome.flagged])).toEqual([
        ['avi:bitbucket:pending:deployment', false],
        ['avi:bitbucket:started:deployment', false],
        ['avi:bitbucket:completed:deployment', false],
      ]);
      expect(repo().deployments!.at(-1)).toMatchObject({ state: 'COMPLETED', status: 'FAILED', commit: refused.json.commit });
      // The pipeline was started by the acting user, for main at its head.
      expect(repo().pipelines!.at(-1)).toMatchObject({ creator: jordan.accountId, commit: repo().heads!.main, ref: { type: 'branch', name: 'main' } });
      // The gate opened a request for it, which the deployments page lists.
      const list = await invoke(url, riley.accountId, 'getDeployments');
      expect(JSON.stringify(list.json)).toContain(refused.json.commit);
    });

    it('flags a deployment to a gated environment that skipped the gate', async () => {
      const { json } = await run(url, jordan.accountId, staging.uuid, { type: 'branch', name: 'main' }, false);
      expect(json.gate).toBeNull();
      expect(json.deployed).toBe(true);
      expect(json.events.at(-1)).toMatchObject({ eventType: 'avi:bitbucket:completed:deployment', outcome: { recorded: true, allowed: false, flagged: true } });
    });

    it('makes a typed tag at main’s head and keeps it; refuses readers, other branches and bad tag names', async () => {
      const { json } = await run(url, jordan.accountId, production.uuid, { type: 'tag', name: 'v1.0.0' });
      expect(json).toMatchObject({ ref: { type: 'tag', name: 'v1.0.0' }, commit: repo().heads!.main });
      expect(repo().tags).toEqual([{ name: 'v1.0.0', commit: repo().heads!.main }]);
      expect(repo().pipelines!.at(-1)!.ref).toEqual({ type: 'tag', name: 'v1.0.0' });
      expect((await run(url, jordan.accountId, production.uuid, { type: 'tag', name: '-rf /' })).status).toBe(400);
      expect((await run(url, jordan.accountId, production.uuid, { type: 'branch', name: 'develop' })).status).toBe(400);
      expect((await run(url, reader.accountId, production.uuid, { type: 'tag', name: 'v1.0.0' })).status).toBe(403);
      expect((await run(url, jordan.accountId, '{00000000-0000-4000-8000-000000000000}', { type: 'tag', name: 'v1.0.0' })).status).toBe(404);
    });
  });
});
