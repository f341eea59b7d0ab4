import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { handler, mergeCheck } from '../src/index';
import type { FakeRepository } from '../test/fakes/fakeBitbucket';
import { BitbucketHttpError } from '../test/fakes/fakeBitbucket';
import { ForgeHost } from '../test/fakes/forgeHost';
import { manifestEntities } from '../test/fakes/manifestEntities';
import { DEMO, demoCommit, seedDemo } from './demo';
import { appFrame, indexPage, pullRequestPage, settingsPage, type PageContext, type Theme } from './pages';
import { loadState, saveState } from './state';

export interface LocalHostOptions {
  /** The project folder: where `static/` and `host/client/` are. */
  root: string;
  /** Where the world is kept between runs. */
  statePath: string;
}

const MODULES = {
  'pr-card': { moduleKey: 'countersign-pr-card', type: 'bitbucket:repoPullRequestCard' },
  settings: { moduleKey: 'countersign-settings', type: 'bitbucket:repoSettingsMenuPage' },
} as const;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.png': 'image/png' };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A stand-in for Bitbucket Cloud around the real app: pages for a pull request and for repository
 * settings that embed the real Custom UI builds, a bridge that routes their calls to the real
 * resolver with the chosen account as principal, and a Merge button that asks the real merge check.
 */
export class LocalHost {
  readonly forge = ForgeHost.create(manifestEntities());
  private server?: Server;

  constructor(private readonly options: LocalHostOptions) {
    if (!loadState(this.forge, options.statePath)) {
      seedDemo(this.forge.bitbucket);
      saveState(this.forge, options.statePath);
    }
  }

  async listen(port: number, hostname = '127.0.0.1'): Promise<string> {
    this.forge.install();
    this.server = createServer((req, res) => void this.route(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, hostname, resolve));
    const address = this.server.address();
    return `http://${hostname}:${typeof address === 'object' && address ? address.port : port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.forge.uninstall();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://local');
      const session = this.session(req);
      if (req.method === 'POST') {
        const body = await readJson(req);
        const answer = await this.api(url.pathname, body, session, res);
        saveState(this.forge, this.options.statePath);
        return send(res, 200, 'application/json', JSON.stringify(answer ?? null));
      }
      return this.page(url, session, res);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) console.error(error);
      send(res, status, 'application/json', JSON.stringify({ message: (error as Error).message }));
    }
  }

  private session(req: IncomingMessage): PageContext {
    const cookies = Object.fromEntries((req.headers.cookie ?? '').split(/;\s*/).map((c) => c.split('=').map(decodeURIComponent) as [string, string]));
    const accountId = this.forge.bitbucket.users.has(cookies.cs_user ?? '') ? cookies.cs_user! : DEMO.people.admin.accountId;
    const theme: Theme = cookies.cs_theme === 'dark' ? 'dark' : 'light';
    return { bitbucket: this.forge.bitbucket, accountId, theme };
  }

  private page(url: URL, session: PageContext, res: ServerResponse): void {
    const parts = url.pathname.split('/').filter(Boolean);
    const html = (body: string) => send(res, 200, TYPES['.html']!, body);
    if (parts.length === 0) return html(indexPage(session));
    if (parts[0] === 'host' && parts.length === 2) return this.file(res, join(this.options.root, 'host', 'client', parts[1]!));
    if (parts[0] === 'apps' && parts[1]! in MODULES) return this.app(res, parts[1] as keyof typeof MODULES, parts[2], url.searchParams, session);
    const repo = this.repository(parts[0]!, parts[1]!);
    if (parts[2] === 'pull-requests' && parts.length === 4) {
      const pr = repo.pullRequests.get(Number(parts[3]));
      if (!pr) throw new HttpError(404, `No pull request #${parts[3]} in ${repo.slug}`);
      return html(pullRequestPage(session, repo, pr));
    }
    if (parts[2] === 'admin' && parts[3] === 'countersign') return html(settingsPage(session, repo));
    throw new HttpError(404, `Nothing at ${url.pathname}`);
  }

  private app(res: ServerResponse, app: keyof typeof MODULES, file: string | undefined, query: URLSearchParams, session: PageContext): void {
    const build = join(this.options.root, 'static', app, 'build');
    if (file) return this.file(res, join(build, file));
    const pullRequest = query.get('pullRequest');
    const context = {
      accountId: session.accountId,
      workspaceId: query.get('workspace'),
      localId: `ari:cloud:ecosystem::extension/countersign/${MODULES[app].moduleKey}`,
      moduleKey: MODULES[app].moduleKey,
      environmentType: 'DEVELOPMENT',
      locale: 'en-US',
      timezone: 'UTC',
      theme: { colorMode: session.theme },
      extension: {
        type: MODULES[app].type,
        repository: { uuid: query.get('repository') },
        ...(pullRequest ? { pullRequest: { id: Number(pullRequest) } } : {}),
      },
    };
    send(res, 200, TYPES['.html']!, appFrame(readFileSync(join(build, 'index.html'), 'utf8'), { context, theme: session.theme }));
  }

  private file(res: ServerResponse, path: string): void {
    if (path.includes('..')) throw new HttpError(400, 'Bad path');
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
      case '/host/api/session':
        if (body.accountId && this.forge.bitbucket.users.has(body.accountId)) res.setHeader('set-cookie', cookie('cs_user', body.accountId));
        if (body.theme === 'light' || body.theme === 'dark') res.setHeader('set-cookie', cookie('cs_theme', body.theme));
        return { ok: true };
      case '/host/api/invoke':
        return this.invoke(body, session.accountId);
      case '/host/api/product':
        return this.product(body, session.accountId);
      case '/host/api/merge':
        return this.merge(body);
      case '/host/api/push':
        return this.push(body);
      default:
        throw new HttpError(404, `No API at ${path}`);
    }
  }

  /** The resolver call, as Forge makes it: the principal is the signed-in account, never the payload. */
  private invoke(body: { functionKey: string; payload?: unknown; context: any }, accountId: string) {
    const context = { ...body.context, accountId };
    return this.forge.actAs(accountId, () => handler({ call: { functionKey: body.functionKey, payload: body.payload ?? {} }, context } as any, { principal: { accountId } } as any));
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

  /**
   * Bitbucket's Merge: the custom merge check runs when the merge dialog opens and again when the
   * merge is confirmed; a failed check blocks with its message.
   */
  private async merge(body: { workspace: string; repository: string; pullRequest: number; confirm?: boolean }) {
    const { repo, pr } = this.pullRequest(body);
    if (pr.state !== 'OPEN') throw new HttpError(409, `Pull request #${pr.id} is already ${pr.state.toLowerCase()}.`);
    const check = await mergeCheck(this.event(repo, pr.id, 'on-merge'));
    const merged = check.success && body.confirm === true;
    if (merged) pr.state = 'MERGED';
    return { merged, check };
  }

  /** A new commit on the source branch by the PR's author, then the `on-code-pushed` check Bitbucket would run. */
  private async push(body: { workspace: string; repository: string; pullRequest: number }) {
    const { repo, pr } = this.pullRequest(body);
    if (pr.state !== 'OPEN') throw new HttpError(409, `Pull request #${pr.id} is ${pr.state.toLowerCase()}; nothing can be pushed to it.`);
    const hash = demoCommit(randomBytes(16).toString('hex'));
    this.forge.bitbucket.pushCommit(repo, pr.id, { hash, author: pr.author, message: `Address review comments (${pr.commits.length + 1})` });
    const check = await mergeCheck(this.event(repo, pr.id, 'on-code-pushed'));
    return { hash, check };
  }
}

function cookie(name: string, value: string): string {
  return `${name}=${encodeURIComponent(value)}; Path=/; SameSite=Lax`;
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
