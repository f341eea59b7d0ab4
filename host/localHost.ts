import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { bareUuid } from '../src/core';
import { REEVALUATION_QUEUE } from '../src/adapters/forgeQueue';
import { deploymentEvents, handler, mergeCheck, pullRequestEvents, pushEvents, reevaluateConsumer } from '../src/index';
import type { FakeRepository } from '../dev/fakeBitbucket';
import { BitbucketHttpError, buildsVerdict, mergeCommitOf } from '../dev/fakeBitbucket';
import { ForgeHost } from '../dev/forgeHost';
import { manifestEntities } from '../dev/manifestEntities';
import { DEMO, DEMO_PIPELINES_YML, demoCommit, seedDemo, type DemoSize } from './demo';
import { EventPump, pullRequestEvent, pushEvent } from './events';
import { appFrame, auditPage, buildsList, deploymentsPage, indexPage, pipelinesPage, pullRequestPage, settingsPage, type AppName, type PageContext, type Theme } from './pages';
import { PipelinesError, PipelinesStandIn, type DeployStepRequest } from './pipelines';
import { loadState, saveState } from './state';

export interface LocalHostOptions {
  /** The project folder: where `static/` and `host/client/` are. */
  root: string;
  /** Where the world is kept between runs. */
  statePath: string;
  /** Which demo a first start seeds (when there is no state file yet). */
  demo?: DemoSize;
  /**
   * The host name the app frames are served under, on their own port: `localhost` by default, another
   * site than the page's `127.0.0.1`, as Forge's CDN is another site than bitbucket.org.
   */
  frameHostname?: string;
}

const MODULES = {
  'pr-card': { moduleKey: 'countersign-pr-card', type: 'bitbucket:repoPullRequestCard' },
  settings: { moduleKey: 'countersign-settings', type: 'bitbucket:repoSettingsMenuPage' },
  audit: { moduleKey: 'countersign-audit', type: 'bitbucket:repoMainMenuPage' },
  deployments: { moduleKey: 'countersign-deployments', type: 'bitbucket:repoMainMenuPage' },
} as const;

/** API calls that change nothing, after which the state file is not written again (the PR page polls one). */
const READS = new Set(['/host/api/pull-request']);

/** Frames remembered at once; the oldest is forgotten first, and its page needs a reload. */
const MAX_FRAMES = 1000;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.png': 'image/png' };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The page is out of date (another account signed in, or the host forgot its frames): it reloads itself. */
    readonly reload = false,
  ) {
    super(message);
  }
}

type Session = PageContext & { signedIn: boolean };

/**
 * A stand-in for Bitbucket Cloud around the real app: pages for a pull request and for repository
 * settings that embed the real Custom UI builds, a bridge that routes their calls to the real
 * resolver with the chosen account as principal, and a Merge button that asks the real merge check.
 */
export class LocalHost {
  readonly forge = ForgeHost.create(manifestEntities());
  private server?: Server;
  private frameServer?: Server;
  /** The host's pages and API, e.g. http://127.0.0.1:4700. */
  origin = '';
  /** Where the app frames are served from: another site (http://localhost:4701), with no API and no cookies. */
  frameOrigin = '';
  /** The context of each app frame served, by frame token: as on Forge, the host decides where a frame runs, not the frame. */
  private readonly frames = new Map<string, FrameContext>();
  /**
   * Forge's event delivery: product events to the real triggers, queued re-evaluations to the real
   * consumer, in the background after each action. `await host.events.idle()` waits for it.
   */
  readonly events: EventPump;
  /** Bitbucket Pipelines, as far as deployments go: deploy steps that ask the real gate, and the real provider's rewrite. */
  readonly pipelines: PipelinesStandIn;

  constructor(private readonly options: LocalHostOptions) {
    this.forge.queue.consumer(REEVALUATION_QUEUE, reevaluateConsumer);
    this.events = new EventPump(this.forge.bitbucket, this.forge.queue, { pullRequest: pullRequestEvents, push: pushEvents, deployment: deploymentEvents }, () => {
      // A state file deleted meanwhile means "start again": the next request does, so never write the old world back.
      if (existsSync(options.statePath)) saveState(this.forge, options.statePath);
    });
    this.pipelines = new PipelinesStandIn(this.forge, this.events, DEMO_PIPELINES_YML);
    if (!loadState(this.forge, options.statePath)) {
      seedDemo(this.forge.bitbucket, options.demo);
      saveState(this.forge, options.statePath);
      this.opened();
    }
  }

  /** The demo's pull requests were just opened: Bitbucket tells the app (once the host runs). */
  private opened(): void {
    for (const repo of this.forge.bitbucket.repositories) {
      for (const pr of repo.pullRequests.values()) this.events.emit(pullRequestEvent('avi:bitbucket:created:pullrequest', repo, pr, { type: 'user', accountId: pr.author }));
    }
  }

  /**
   * Serves the pages on `hostname:port` and the app frames on `frameHostname:framePort` (by default the
   * next port, or any free one when `port` is 0). The frame listener is bound to the same loopback
   * address; `localhost` reaches it in every browser.
   */
  async listen(port: number, hostname = '127.0.0.1', framePort = port === 0 ? 0 : port + 1): Promise<string> {
    const frameHost = this.options.frameHostname ?? 'localhost';
    if (frameHost === hostname) throw new Error(`The app frames must be served under another host name than the pages (${hostname}), as Forge serves them from another site; set COUNTERSIGN_FRAME_HOST to another one.`);
    this.forge.install();
    this.events.start();
    this.server = createServer((req, res) => void this.route(req, res));
    this.frameServer = createServer((req, res) => void this.routeFrame(req, res));
    const bound = await bind(this.server, port, hostname);
    this.origin = `http://${hostname}:${bound}`;
    const frameBound = await bind(this.frameServer, framePort, hostname).catch(async (error: NodeJS.ErrnoException) => {
      await this.close();
      throw error.code === 'EADDRINUSE' ? new Error(`Port ${framePort} (for the app frames) is in use; stop what runs there or set FRAME_PORT to a free port.`) : error;
    });
    this.frameOrigin = `http://${frameHost}:${frameBound}`;
    return this.origin;
  }

  async close(): Promise<void> {
    const stop = (server?: Server) => new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
    await Promise.all([stop(this.server), stop(this.frameServer)]);
    // What is being delivered finishes (it needs the fakes installed); what waits stays queued.
    this.events.stop();
    await this.events.idle();
    this.forge.uninstall();
  }

  /** Back to the demo workspace, as on a first start: every policy, key, signature, pushed commit and pipeline is gone (the Pipelines OIDC keys stay). */
  reset(): void {
    this.events.clear();
    this.forge.kvs.importState({ plain: [], secret: [], entities: [] });
    // The workspace's Pipelines signing keys stay, as Bitbucket's would: the app has them cached, and the
    // next run's step tokens are signed with them.
    this.forge.bitbucket.importState({ users: [], workspaces: [], repositories: [], oidcKeys: this.forge.bitbucket.exportState().oidcKeys });
    seedDemo(this.forge.bitbucket, this.options.demo);
    this.frames.clear();
    saveState(this.forge, this.options.statePath);
    this.opened();
  }

  /** A state file deleted while the host runs means "start again": never write the old world back over it. */
  private ensureState(): void {
    if (existsSync(this.options.statePath)) return;
    console.log(`${this.options.statePath} was deleted: starting again from the demo workspace.`);
    this.reset();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      this.ensureState();
      const url = new URL(req.url ?? '/', 'http://local');
      if (req.headers.host !== new URL(this.origin).host) {
        // Opened as localhost:4700 the pages would be the same site as the frames, and their posts refused.
        res.writeHead(308, { location: `${this.origin}${url.pathname}${url.search}` });
        return void res.end();
      }
      // The workspace's Pipelines OIDC issuer, on loopback too, so a person can read the keys the gate trusts.
      if (req.method === 'GET' && isOidcPath(url.pathname)) {
        try {
          const { status, json } = this.forge.bitbucket.handle('GET', url.pathname, undefined, undefined);
          return send(res, status, 'application/json', JSON.stringify(json));
        } catch (error) {
          throw error instanceof BitbucketHttpError ? new HttpError(error.status, error.message) : error;
        }
      }
      const session = this.session(req);
      if (req.method === 'POST') {
        this.verifyPost(req, session);
        const body = await readJson(req);
        const answer = await this.api(url.pathname, body, session, res);
        if (!READS.has(url.pathname)) saveState(this.forge, this.options.statePath);
        // A resolver may have queued re-evaluations: the consumer runs them after this answer.
        this.events.kick();
        return send(res, 200, 'application/json', JSON.stringify(answer ?? null));
      }
      return await this.page(url, session, res);
    } catch (error) {
      fail(res, error);
    }
  }

  /**
   * The app frames' own origin: their documents and files, nothing else. There is no API here and no
   * cookie is read: a frame reaches the host only by postMessage to the page that embeds it.
   */
  private routeFrame(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.ensureState();
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'The app frames origin only serves files; the API is on the page origin.');
      const url = new URL(req.url ?? '/', 'http://local');
      const parts = url.pathname.split('/').filter(Boolean);
      res.setHeader('content-security-policy', `frame-ancestors ${this.origin}`);
      if (parts[0] === 'host' && (parts[1] === 'bridge.js' || parts[1] === 'tokens.css') && parts.length === 2) return this.file(res, join(this.options.root, 'host', 'client'), parts[1]);
      if (parts[0] === 'apps' && parts[1]! in MODULES && parts.length <= 3) {
        const build = join(this.options.root, 'static', parts[1]!, 'build');
        if (parts[2]) return this.file(res, build, parts[2]);
        return this.appDocument(res, build, url.searchParams.get('frame') ?? '');
      }
      throw new HttpError(404, `Nothing at ${url.pathname} on the app frames origin`);
    } catch (error) {
      fail(res, error);
    }
  }

  /** Who is signed in: the `cs_user` cookie, or the demo admin until someone is picked. */
  private session(req: IncomingMessage): Session {
    const cookies = parseCookies(req.headers.cookie);
    const signedIn = this.forge.bitbucket.users.has(cookies.cs_user ?? '');
    const accountId = signedIn ? cookies.cs_user! : DEMO.people.admin.accountId;
    const theme: Theme = cookies.cs_theme === 'dark' ? 'dark' : 'light';
    const session: Session = { bitbucket: this.forge.bitbucket, accountId, theme, signedIn, frameOrigin: this.frameOrigin, frameSrc: () => '' };
    session.frameSrc = (app, repo, pullRequest) => this.frameSrc(app, repo, pullRequest, session);
    return session;
  }

  /**
   * Changes come only from this host's own pages: JSON, from this origin (so another site cannot post
   * to 127.0.0.1 on a visitor's behalf), by a signed-in account (except picking who to act as).
   */
  private verifyPost(req: IncomingMessage, session: { signedIn: boolean }): void {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'Send JSON.');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== this.origin) throw new HttpError(403, `Requests from ${origin} are not accepted.`);
    if (!session.signedIn && req.url !== '/host/api/session') throw new HttpError(401, 'Pick who to act as first (reload the page).');
  }

  private async page(url: URL, session: Session, res: ServerResponse): Promise<void> {
    if (!session.signedIn) res.setHeader('set-cookie', cookie('cs_user', session.accountId));
    const parts = url.pathname.split('/').filter(Boolean);
    const html = (body: string) => {
      res.setHeader('content-security-policy', "frame-ancestors 'none'");
      send(res, 200, TYPES['.html']!, body);
    };
    if (parts.length === 0) return html(indexPage(session));
    if (parts[0] === 'host' && parts.length === 2) return this.file(res, join(this.options.root, 'host', 'client'), parts[1]!);
    if (parts[0] === 'apps') throw new HttpError(404, `The apps are served from ${this.frameOrigin}, another site, as on Forge.`);
    if (parts.length < 2) throw new HttpError(404, `Nothing at ${url.pathname}`);
    const repo = this.repository(parts[0]!, parts[1]!);
    if (parts[2] === 'pull-requests' && parts.length === 4) {
      const pr = repo.pullRequests.get(Number(parts[3]));
      if (!pr) throw new HttpError(404, `No pull request #${parts[3]} in ${repo.slug}`);
      return html(pullRequestPage(session, repo, pr));
    }
    if (parts[2] === 'admin' && parts[3] === 'countersign') return html(settingsPage(session, repo));
    if (parts[2] === 'countersign-audit' && parts.length === 3) return html(auditPage(session, repo));
    if (parts[2] === 'countersign-deployments' && parts.length === 3) return html(deploymentsPage(session, repo));
    if (parts[2] === 'pipelines' && parts.length === 3) return html(pipelinesPage(session, repo, this.pipelines.environments(repo), await this.pipelines.providedPipeline(repo)));
    throw new HttpError(404, `Nothing at ${url.pathname}`);
  }

  /**
   * Fixes an app frame's context when the page that embeds it is served, as the signed-in account: the
   * frame's URL names only the token, and the host answers that frame's calls in that context alone.
   */
  private frameSrc(app: AppName, repo: FakeRepository, pullRequest: number | undefined, session: PageContext): string {
    const context: FrameContext['context'] = {
      accountId: session.accountId,
      workspaceId: repo.workspace.uuid,
      localId: `ari:cloud:ecosystem::extension/countersign/${MODULES[app].moduleKey}`,
      moduleKey: MODULES[app].moduleKey,
      environmentType: 'DEVELOPMENT',
      locale: 'en-US',
      timezone: 'UTC',
      theme: { colorMode: session.theme },
      extension: {
        type: MODULES[app].type,
        repository: { uuid: repo.uuid },
        ...(pullRequest ? { pullRequest: { id: pullRequest } } : {}),
      },
    };
    const token = randomBytes(16).toString('hex');
    this.frames.set(token, { context, theme: session.theme });
    if (this.frames.size > MAX_FRAMES) this.frames.delete(this.frames.keys().next().value!);
    return `${this.frameOrigin}/apps/${app}/?frame=${token}`;
  }

  private appDocument(res: ServerResponse, build: string, token: string): void {
    const frame = this.frames.get(token);
    if (!frame) throw new HttpError(404, 'This app frame is not known to the host (it may have restarted); reload the page.');
    let html: string;
    try {
      html = readFileSync(join(build, 'index.html'), 'utf8');
    } catch {
      throw new HttpError(404, `No app build in ${build}; run npm run build first`);
    }
    send(res, 200, TYPES['.html']!, appFrame(html, { context: frame.context, theme: frame.theme, hostOrigin: this.origin }));
  }

  private file(res: ServerResponse, folder: string, name: string): void {
    const path = resolve(folder, name);
    if (!path.startsWith(resolve(folder) + sep)) throw new HttpError(400, 'Bad path');
    let content: Buffer;
    try {
      content = readFileSync(path);
    } catch {
      throw new HttpError(404, `No file ${path}; run npm run build first`);
    }
    send(res, 200, TYPES[extname(path)] ?? 'application/octet-stream', content);
  }

  private repository(workspace: string, slug: string): FakeRepository {
    const repo = this.forge.bitbucket.repositories.find((r) => (r.workspace.slug === workspace || r.workspace.uuid === workspace) && (r.slug === slug || r.uuid === slug));
    if (!repo) throw new HttpError(404, `No repository ${workspace}/${slug}`);
    return repo;
  }

  private async api(path: string, body: any, session: PageContext, res: ServerResponse): Promise<unknown> {
    switch (path) {
      case '/host/api/session': {
        const cookies: string[] = [];
        if (body.accountId && this.forge.bitbucket.users.has(body.accountId)) cookies.push(cookie('cs_user', body.accountId));
        if (body.theme === 'light' || body.theme === 'dark') cookies.push(cookie('cs_theme', body.theme));
        res.setHeader('set-cookie', cookies);
        return { ok: true };
      }
      case '/host/api/invoke':
        return this.invoke(body, this.frame(body.frame, session.accountId));
      case '/host/api/product':
        this.frame(body.frame, session.accountId);
        return this.product(body, session.accountId);
      case '/host/api/merge':
        return this.merge(body, session.accountId);
      case '/host/api/push':
        return this.push(body, session.accountId);
      case '/host/api/decline':
        return this.decline(body, session.accountId);
      case '/host/api/builds-required':
        return this.requireBuilds(body, session.accountId);
      case '/host/api/pull-request': {
        const { repo, pr } = this.pullRequest(body);
        return { state: pr.state, head: pr.commits.at(-1)!.hash, builds: buildsList(repo, pr) };
      }
      case '/host/api/pipelines/run':
        return this.runDeployStep(body, session.accountId);
      case '/host/api/reset':
        this.reset();
        return { ok: true };
      default:
        throw new HttpError(404, `No API at ${path}`);
    }
  }

  /**
   * The frame a call comes from, served to the account now signed in. A frame served to someone else
   * is a tab left open while another tab switched account: its page reloads rather than act for them.
   */
  private frame(token: unknown, accountId: string): FrameContext['context'] {
    const frame = typeof token === 'string' ? this.frames.get(token) : undefined;
    if (!frame) throw new HttpError(409, 'This app frame is not known to the host (it may have restarted or been reset); reload the page.', true);
    if (frame.context.accountId !== accountId) {
      const name = (id: string) => this.forge.bitbucket.users.get(id)?.displayName ?? id;
      throw new HttpError(409, `This page was opened as ${name(frame.context.accountId)}, but ${name(accountId)} signed in since (in another tab); reload the page.`, true);
    }
    return frame.context;
  }

  /** The resolver call, as Forge makes it: the principal is the signed-in account and the context the frame's, never what the frame sends. */
  private invoke(body: { functionKey: string; payload?: unknown }, frame: FrameContext['context']) {
    const accountId = frame.accountId;
    const context = { ...frame };
    return this.forge.actAs(accountId, () => handler({ call: { functionKey: body.functionKey, payload: body.payload ?? {} }, context } as any, { principal: { accountId }, installContext: `ari:cloud:bitbucket::workspace/${bareUuid(DEMO.workspace.uuid)}` } as any));
  }

  /** `requestBitbucket` from the app's frame: answered by the fake Bitbucket as the signed-in user. */
  private product(body: { restPath: string; method?: string; body?: string }, accountId: string) {
    try {
      const { status, json } = this.forge.bitbucket.handle((body.method ?? 'GET').toUpperCase(), body.restPath, body.body ? JSON.parse(body.body) : undefined, accountId);
      return { status, statusText: 'OK', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) };
    } catch (error) {
      if (!(error instanceof BitbucketHttpError)) throw error;
      return { status: error.status, statusText: 'Error', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'error', error: { message: error.message } }) };
    }
  }

  private pullRequest(body: { workspace: string; repository: string; pullRequest: number }) {
    const repo = this.repository(body.workspace, body.repository);
    const pr = repo.pullRequests.get(Number(body.pullRequest));
    if (!pr) throw new HttpError(404, `No pull request #${body.pullRequest}`);
    return { repo, pr };
  }

  private event(repo: FakeRepository, id: number, trigger: string) {
    return { workspace: { uuid: repo.workspace.uuid }, repository: { uuid: repo.uuid }, pullrequest: { id }, trigger: { type: trigger } };
  }

  private mayWrite(repo: FakeRepository, accountId: string, doing: string): void {
    const permission = repo.permissions[accountId];
    if (permission === 'write' || permission === 'admin') return;
    const who = this.forge.bitbucket.users.get(accountId)?.displayName ?? accountId;
    throw new HttpError(403, `${who} has ${permission ?? 'no'} access to ${repo.workspace.slug}/${repo.slug}; ${doing} needs write access.`);
  }

  /**
   * Bitbucket's Merge: the custom merge check runs when the merge dialog opens and again when the
   * merge is confirmed; a failed check blocks with its message. With "Require passing builds" on, the
   * build statuses of the head commit decide instead (as where merge checks are not Required).
   */
  private async merge(body: { workspace: string; repository: string; pullRequest: number; confirm?: boolean }, accountId: string) {
    const { repo, pr } = this.pullRequest(body);
    this.mayWrite(repo, accountId, 'merging');
    if (pr.state !== 'OPEN') throw new HttpError(409, `Pull request #${pr.id} is already ${pr.state.toLowerCase()}.`);
    const gate = repo.requirePassingBuilds ? 'builds' : 'merge-check';
    const check = gate === 'builds' ? buildsVerdict(repo, pr) : await mergeCheck(this.event(repo, pr.id, 'on-merge'));
    const merged = check.success && body.confirm === true;
    if (merged) {
      pr.state = 'MERGED';
      pr.closedBy = accountId;
      pr.mergeCommit = mergeCommitOf(repo, pr);
      (repo.heads ??= {})[pr.targetBranch] = pr.mergeCommit!;
      this.events.emit(pullRequestEvent('avi:bitbucket:fulfilled:pullrequest', repo, pr, { type: 'user', accountId }));
    }
    return { merged, gate, check };
  }

  /** Decline: the pull request is closed unmerged, and Bitbucket sends `rejected`. */
  private decline(body: { workspace: string; repository: string; pullRequest: number }, accountId: string) {
    const { repo, pr } = this.pullRequest(body);
    this.mayWrite(repo, accountId, 'declining');
    if (pr.state !== 'OPEN') throw new HttpError(409, `Pull request #${pr.id} is already ${pr.state.toLowerCase()}.`);
    pr.state = 'DECLINED';
    pr.closedBy = accountId;
    this.events.emit(pullRequestEvent('avi:bitbucket:rejected:pullrequest', repo, pr, { type: 'user', accountId }));
    return { state: pr.state };
  }

  /** "Run deploy step" on the Pipelines page: a pipeline started by the acting user, for one environment and ref. */
  private async runDeployStep(body: { workspace: string; repository: string } & Partial<DeployStepRequest>, accountId: string) {
    const repo = this.repository(body.workspace, body.repository);
    this.mayWrite(repo, accountId, 'running a pipeline');
    if (typeof body.environment !== 'string' || !body.ref || typeof body.gate !== 'boolean') throw new HttpError(400, 'Say which environment, which ref and whether the step runs the gate.');
    try {
      return await this.pipelines.runDeployStep(repo, accountId, { environment: body.environment, ref: body.ref, gate: body.gate });
    } catch (error) {
      throw error instanceof PipelinesError ? new HttpError(error.status, error.message) : error;
    }
  }

  /** The repository's "Require passing builds" switch: a repository admin's setting, as in Bitbucket. */
  private requireBuilds(body: { workspace: string; repository: string; required?: unknown }, accountId: string) {
    const repo = this.repository(body.workspace, body.repository);
    if (typeof body.required !== 'boolean') throw new HttpError(400, 'Say whether passing builds are required: "required" must be true or false.');
    if (repo.permissions[accountId] !== 'admin') {
      const who = this.forge.bitbucket.users.get(accountId)?.displayName ?? accountId;
      throw new HttpError(403, `${who} is not an admin of ${repo.workspace.slug}/${repo.slug}; only repository admins can change which merge checks apply.`);
    }
    repo.requirePassingBuilds = body.required;
    return { requirePassingBuilds: repo.requirePassingBuilds };
  }

  /**
   * A new commit on the source branch by the PR's author: Bitbucket sends `push:repository` and
   * `updated:pullrequest` (the triggers re-evaluate), and runs the `on-code-pushed` merge check.
   */
  private async push(body: { workspace: string; repository: string; pullRequest: number }, accountId: string) {
    const { repo, pr } = this.pullRequest(body);
    this.mayWrite(repo, accountId, 'pushing');
    if (pr.state !== 'OPEN') throw new HttpError(409, `Pull request #${pr.id} is ${pr.state.toLowerCase()}; nothing can be pushed to it.`);
    const hash = demoCommit(randomBytes(16).toString('hex'));
    this.forge.bitbucket.pushCommit(repo, pr.id, { hash, author: pr.author, message: `Address review comments (${pr.commits.length + 1})` });
    this.events.emit(pushEvent(repo, { type: 'user', accountId }));
    this.events.emit(pullRequestEvent('avi:bitbucket:updated:pullrequest', repo, pr, { type: 'user', accountId }));
    const check = await mergeCheck(this.event(repo, pr.id, 'on-code-pushed'));
    return { hash, check };
  }
}

interface FrameContext {
  context: { accountId: string; workspaceId: string; [field: string]: unknown };
  theme: Theme;
}

function isOidcPath(path: string): boolean {
  return /^\/2\.0\/workspaces\/[^/]+\/pipelines-config\/identity\/oidc\/(\.well-known\/openid-configuration|keys\.json)$/.test(path);
}

function bind(server: Server, port: number, hostname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostname, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

function fail(res: ServerResponse, error: unknown): void {
  const status = error instanceof HttpError ? error.status : 500;
  if (status === 500) console.error(error);
  const reload = error instanceof HttpError && error.reload ? { reload: true } : {};
  send(res, status, 'application/json', JSON.stringify({ message: (error as Error).message, ...reload }));
}

function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? '').split(/;\s*/)) {
    const at = part.indexOf('=');
    if (at < 0) continue;
    try {
      cookies[part.slice(0, at)] = decodeURIComponent(part.slice(at + 1));
    } catch {
      // Another local app's cookie that is not URI-encoded: not ours, ignore it.
    }
  }
  return cookies;
}

/** Kept for a year, so who you act as survives a browser restart. */
function cookie(name: string, value: string): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=31536000; SameSite=Lax`;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'The request body is not JSON');
  }
}
