import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { bareUuid } from '../src/core';
import { handler, mergeCheck } from '../src/index';
import type { FakeRepository } from '../dev/fakeBitbucket';
import { BitbucketHttpError } from '../dev/fakeBitbucket';
import { ForgeHost } from '../dev/forgeHost';
import { manifestEntities } from '../dev/manifestEntities';
import { DEMO, demoCommit, seedDemo, type DemoSize } from './demo';
import { appFrame, indexPage, pullRequestPage, settingsPage, type PageContext, type Theme } from './pages';
import { loadState, saveState } from './state';

export interface LocalHostOptions {
  /** The project folder: where `static/` and `host/client/` are. */
  root: string;
  /** Where the world is kept between runs. */
  statePath: string;
  /** Which demo a first start seeds (when there is no state file yet). */
  demo?: DemoSize;
}

const MODULES = {
  'pr-card': { moduleKey: 'countersign-pr-card', type: 'bitbucket:repoPullRequestCard' },
  settings: { moduleKey: 'countersign-settings', type: 'bitbucket:repoSettingsMenuPage' },
} as const;

/** Frames remembered at once; the oldest is forgotten first, and its page needs a reload. */
const MAX_FRAMES = 1000;

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
  private origin = '';
  /** The context of each app frame served, by frame token: as on Forge, the host decides where a frame runs, not the frame. */
  private readonly frames = new Map<string, FrameContext>();

  constructor(private readonly options: LocalHostOptions) {
    if (!loadState(this.forge, options.statePath)) {
      seedDemo(this.forge.bitbucket, options.demo);
      saveState(this.forge, options.statePath);
    }
  }

  async listen(port: number, hostname = '127.0.0.1'): Promise<string> {
    this.forge.install();
    this.server = createServer((req, res) => void this.route(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, hostname, resolve));
    const address = this.server.address();
    this.origin = `http://${hostname}:${typeof address === 'object' && address ? address.port : port}`;
    return this.origin;
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
        this.verifyPost(req, session);
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

  /** Who is signed in: the `cs_user` cookie, or the demo admin until someone is picked. */
  private session(req: IncomingMessage): PageContext & { signedIn: boolean } {
    const cookies = parseCookies(req.headers.cookie);
    const signedIn = this.forge.bitbucket.users.has(cookies.cs_user ?? '');
    const accountId = signedIn ? cookies.cs_user! : DEMO.people.admin.accountId;
    const theme: Theme = cookies.cs_theme === 'dark' ? 'dark' : 'light';
    return { bitbucket: this.forge.bitbucket, accountId, theme, signedIn };
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

  private page(url: URL, session: PageContext & { signedIn: boolean }, res: ServerResponse): void {
    if (!session.signedIn) res.setHeader('set-cookie', cookie('cs_user', session.accountId));
    const parts = url.pathname.split('/').filter(Boolean);
    const html = (body: string) => send(res, 200, TYPES['.html']!, body);
    if (parts.length === 0) return html(indexPage(session));
    if (parts[0] === 'host' && parts.length === 2) return this.file(res, join(this.options.root, 'host', 'client'), parts[1]!);
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
    if (file) return this.file(res, build, file);
    const pullRequest = query.get('pullRequest');
    const context: FrameContext = {
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
    const token = randomBytes(16).toString('hex');
    this.frames.set(token, context);
    if (this.frames.size > MAX_FRAMES) this.frames.delete(this.frames.keys().next().value!);
    send(res, 200, TYPES['.html']!, appFrame(readFileSync(join(build, 'index.html'), 'utf8'), { token, context, theme: session.theme }));
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

  /** The resolver call, as Forge makes it: the principal is the signed-in account and the context the frame's, never what the frame sends. */
  private invoke(body: { frame: string; functionKey: string; payload?: unknown }, accountId: string) {
    const frame = this.frames.get(body.frame);
    if (!frame) throw new HttpError(400, 'This app frame is not known to the host (it may have restarted); reload the page.');
    const context = { ...frame, accountId };
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

interface FrameContext {
  accountId: string;
  workspaceId: string | null;
  [field: string]: unknown;
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
