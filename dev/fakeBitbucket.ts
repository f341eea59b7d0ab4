import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * An in-memory Bitbucket Cloud that answers the REST calls Countersign makes, in the shapes of
 * Bitbucket's own OpenAPI description: `pullrequest` (with the 12-hex abbreviated
 * `source.commit.hash` that Bitbucket Cloud really returns), `paginated_changeset` (newest first,
 * full hashes), `paginated_repository_permissions` (answered for the calling user only) and
 * `commitstatus`, `commit` (`GET …/commit/{hash}`, a full or abbreviated hash, answered with the full one),
 * `paginated_workspace_memberships` and `workspace_membership` (paged by `pagelen` up to
 * 100 and `page`, with `next`/`previous` links; Bitbucket filters members only by `user.email`, which
 * this fake keeps none of, so it refuses every `q`), and `paginated_branches` (with the documented
 * `q=name = "…"` and `q=name ~ "…"` filters, joined by AND), `paginated_environments` and
 * `deployment_environment` (a repository's deployment environments, paged like the others), `pipeline`
 * (its target a `pipeline_ref_target` for a branch or tag, else a `pipeline_commit_target`), and each
 * workspace's Pipelines OIDC issuer (`…/pipelines-config/identity/oidc/.well-known/openid-configuration`
 * and `keys.json`), which mints step tokens for seeded pipelines. Errors come back as Bitbucket's `{ type: "error", error: { message } }`.
 */
export interface FakeUser {
  accountId: string;
  displayName: string;
  uuid: string;
}

export interface FakeCommit {
  hash: string;
  author: string;
  message: string;
}

export interface FakePullRequest {
  id: number;
  title: string;
  author: string;
  sourceBranch: string;
  targetBranch: string;
  state: 'OPEN' | 'MERGED' | 'DECLINED' | 'SUPERSEDED';
  reviewers: string[];
  /** Oldest first; the last one is the head. */
  commits: FakeCommit[];
  /**
   * The commit the merge wrote (full hash), set when merged through the API. A pull request marked
   * MERGED some other way (the host's Merge button, a test) gets one derived from it: see `mergeCommitOf`.
   */
  mergeCommit?: string;
  /** Who merged or declined it (`closed_by`); none while open. */
  closedBy?: string;
}

/** A pipeline run, as `seedPipeline` records it: `ref` absent for a custom run on a bare commit. */
export interface FakePipeline {
  uuid: string;
  buildNumber: number;
  commit: string;
  ref?: { type: 'branch' | 'tag'; name: string };
  creator?: string;
}

/** A deployment step's run, as Bitbucket keeps it under the environment (`deployment`). */
export interface FakeDeployment {
  uuid: string;
  environment: string;
  pipeline: string;
  commit: string;
  state: 'PENDING' | 'IN_PROGRESS' | 'COMPLETED';
  /** A completed deployment's outcome. */
  status?: 'SUCCESSFUL' | 'FAILED' | 'STOPPED';
}

/** One of a workspace's Pipelines OIDC signing keys (the private half as a JWK, so the host can keep it on disk). */
export interface FakeOidcKey {
  kid: string;
  privateJwk: Record<string, unknown>;
}

/** A step token's claims beyond the registered ones, as Bitbucket issues them. */
export interface StepTokenOptions {
  pipeline: string;
  /** The step's UUID; a fresh one when not given. */
  step?: string;
  /** The step's `deployment:` environment, by UUID: only a deployment step's token names one. */
  environment?: string;
  /** The step's `oidc: audiences:`; Bitbucket's default is `ari:cloud:bitbucket::workspace/{uuid}`. */
  audience?: string | string[];
  now?: Date;
  ttlSeconds?: number;
  /** Claims to add or replace, for tests of tokens Bitbucket would not issue. */
  claims?: Record<string, unknown>;
  issuer?: string;
  /** Sign with another key (a forgery) under the workspace's current `kid`. */
  signWith?: KeyObject | CryptoKey;
}

/**
 * The commit a merged pull request's merge wrote onto its target: the head itself for a fast-forward,
 * otherwise a new commit (a stable hash derived from the repository, pull request, head and strategy,
 * since this fake keeps no trees). Undefined while the pull request is not merged.
 */
export function mergeCommitOf(repo: Pick<FakeRepository, 'uuid'>, pr: FakePullRequest, strategy = 'merge_commit'): string | undefined {
  if (pr.state !== 'MERGED') return undefined;
  if (pr.mergeCommit) return pr.mergeCommit;
  const head = pr.commits[pr.commits.length - 1]!.hash;
  if (strategy === 'fast_forward') return head;
  return createHash('sha1').update(`merge ${repo.uuid} ${pr.id} ${head} ${strategy}`).digest('hex');
}

/** A deployment environment of a repository; `type` is Bitbucket's environment type, which also orders them. */
export interface FakeEnvironment {
  uuid: string;
  name: string;
  type: 'Test' | 'Staging' | 'Production';
}

const ENVIRONMENT_TYPE_RANK: Record<FakeEnvironment['type'], number> = { Test: 0, Staging: 1, Production: 2 };

/** A `deployment_environment` with the fields Bitbucket sends beyond the description's `uuid` and `name`: its type, rank and slug. */
function environmentShape(env: FakeEnvironment, rank: number) {
  return {
    type: 'deployment_environment',
    uuid: env.uuid,
    name: env.name,
    slug: env.name.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
    rank,
    hidden: false,
    environment_type: { type: 'deployment_environment_type', name: env.type, rank: ENVIRONMENT_TYPE_RANK[env.type] },
    category: { name: env.type },
    restrictions: { type: 'deployment_restrictions_configuration', admin_only: false },
  };
}

export interface FakeWorkspace {
  uuid: string;
  slug: string;
  name: string;
  members: string[];
}

export interface FakeRepository {
  uuid: string;
  slug: string;
  workspace: { uuid: string; slug: string };
  permissions: Record<string, 'admin' | 'write' | 'read'>;
  pullRequests: Map<number, FakePullRequest>;
  statuses: { commit: string; key: string; state: string; name?: string; description?: string; url: string; refname?: string }[];
  /** Deployment environments, in the order they were added; none when absent. */
  environments?: FakeEnvironment[];
  /** The open branches, in git's order; when absent, `main` and the branches of the pull requests. */
  branches?: string[];
  /** Commits beyond the pull requests' (say, a tagged release on `main`), for `GET …/commit/{commit}`. */
  commits?: FakeCommit[];
  pipelines?: FakePipeline[];
  /** Tags, each pointing at a commit (full hash). */
  tags?: { name: string; commit: string }[];
  /** The head commit of each branch the fake has seen move: a pull request merged into it sets it. */
  heads?: Record<string, string>;
  /** Deployments to the environments, oldest first: which commit reached which environment, by which pipeline. */
  deployments?: FakeDeployment[];
  /** When set, build status posts fail with this HTTP status, as during a Bitbucket incident. */
  failStatusesWith?: number;
  /** Merges through the API, in order: pull request, strategy, the head commit merged and the commit the merge wrote. */
  merges?: { pullRequest: number; strategy: string; commit: string; mergeCommit?: string }[];
  /** When set, merging is refused as Bitbucket refuses it (a conflict, its own merge checks). */
  refuseMergesWith?: { status: number; message: string };
  /** When set, a merge answers 202 and its task reads PENDING this many times before it finishes. */
  mergeTaskPolls?: number;
  /**
   * Bitbucket's own "require passing builds" merge check: a merge (through the API too) needs every build
   * status on the head commit, the latest of each key, to be SUCCESSFUL, and at least one.
   */
  requirePassingBuilds?: boolean;
}

export interface BuildsVerdict {
  success: boolean;
  message: string;
}

/** The latest build status of each key on `commit`, in the order the keys first reported. */
export function latestStatuses(repo: FakeRepository, commit: string): FakeRepository['statuses'] {
  const byKey = new Map<string, FakeRepository['statuses'][number]>();
  for (const status of repo.statuses) if (status.commit === commit) byKey.set(status.key, status);
  return [...byKey.values()];
}

/** What "require passing builds" says of a pull request's head commit. */
export function buildsVerdict(repo: FakeRepository, pr: FakePullRequest): BuildsVerdict {
  const head = pr.commits[pr.commits.length - 1]!.hash;
  const builds = latestStatuses(repo, head);
  if (builds.length === 0) return { success: false, message: `No build has reported on commit ${head.slice(0, 7)} yet; merging needs passing builds.` };
  const unfinished = builds.filter((b) => b.state !== 'SUCCESSFUL');
  if (unfinished.length > 0) {
    const said = unfinished.map((b) => `${b.name ?? b.key} is ${b.state}${b.description ? ` (${b.description})` : ''}`).join('; ');
    return { success: false, message: `Merging needs passing builds on commit ${head.slice(0, 7)}: ${said}.` };
  }
  return { success: true, message: `${builds.length} of ${builds.length} builds passed on commit ${head.slice(0, 7)}.` };
}

/** A merge Bitbucket is running in the background (`202` + `Location`), polled at `…/merge/task-status/{task}`. */
interface MergeTask {
  repo: FakeRepository;
  pullRequest: number;
  pending: number;
  strategy: string;
}

/** An answer to one request; `headers` beside the JSON when Bitbucket sends some (`Location`, `Retry-After`). */
export interface FakeAnswer {
  status: number;
  json: unknown;
  headers?: Record<string, string>;
}

export class BitbucketHttpError {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

const API = 'https://api.bitbucket.org/2.0';

/** The fake's whole state as plain JSON, for the local host to keep on disk. */
export interface BitbucketState {
  users: FakeUser[];
  workspaces: FakeWorkspace[];
  repositories: (Omit<FakeRepository, 'pullRequests'> & { pullRequests: FakePullRequest[] })[];
  /** Each workspace's Pipelines OIDC keys (by workspace UUID), newest first. */
  oidcKeys?: Record<string, FakeOidcKey[]>;
}

export class FakeBitbucket {
  readonly users = new Map<string, FakeUser>();
  readonly workspaces: FakeWorkspace[] = [];
  readonly repositories: FakeRepository[] = [];
  /**
   * Answers queued for the next requests whatever they are (429 with `Retry-After`, 500, 503), as
   * Bitbucket answers under load or during an incident; each is used once.
   */
  readonly faults: { status: number; retryAfter?: number }[] = [];
  /** Each workspace's Pipelines OIDC signing keys (by workspace UUID), newest first; made on first use. */
  readonly oidcKeys = new Map<string, FakeOidcKey[]>();
  private readonly tasks = new Map<string, MergeTask>();
  private taskSeq = 0;

  exportState(): BitbucketState {
    return {
      users: [...this.users.values()],
      workspaces: this.workspaces,
      repositories: this.repositories.map((r) => ({ ...r, pullRequests: [...r.pullRequests.values()] })),
      oidcKeys: Object.fromEntries(this.oidcKeys),
    };
  }

  importState(state: BitbucketState): void {
    this.oidcKeys.clear();
    for (const [workspace, keys] of Object.entries(state.oidcKeys ?? {})) this.oidcKeys.set(workspace, keys);
    this.users.clear();
    for (const user of state.users) this.users.set(user.accountId, user);
    this.workspaces.splice(0, Infinity, ...state.workspaces);
    this.repositories.splice(0, Infinity, ...state.repositories.map((r) => ({ ...r, pullRequests: new Map(r.pullRequests.map((pr) => [pr.id, pr])) })));
  }

  addWorkspace(workspace: FakeWorkspace): FakeWorkspace {
    this.workspaces.push(workspace);
    return workspace;
  }

  addUser(user: FakeUser): FakeUser {
    this.users.set(user.accountId, user);
    return user;
  }

  addRepository(repo: Omit<FakeRepository, 'pullRequests' | 'statuses'>): FakeRepository {
    const full = { ...repo, pullRequests: new Map(), statuses: [] };
    this.repositories.push(full);
    return full;
  }

  addPullRequest(repo: FakeRepository, pr: FakePullRequest): FakePullRequest {
    repo.pullRequests.set(pr.id, pr);
    return pr;
  }

  /** A commit outside any pull request, e.g. one a tag points at. */
  seedCommit(repo: FakeRepository, commit: FakeCommit): FakeCommit {
    (repo.commits ??= []).push(commit);
    return commit;
  }

  /** A tag on `commit`; naming an existing tag moves nothing (a tag points where it was made). */
  addTag(repo: FakeRepository, name: string, commit: string): { name: string; commit: string } {
    const found = repo.tags?.find((t) => t.name === name);
    if (found) return found;
    const tag = { name, commit };
    (repo.tags ??= []).push(tag);
    return tag;
  }

  /** A pipeline run; `uuid` and `buildNumber` are made up when not given. */
  seedPipeline(repo: FakeRepository, pipeline: Omit<FakePipeline, 'uuid' | 'buildNumber'> & Partial<Pick<FakePipeline, 'uuid' | 'buildNumber'>>): FakePipeline {
    const pipelines = (repo.pipelines ??= []);
    const full: FakePipeline = { uuid: `{${randomUUID()}}`, buildNumber: pipelines.length + 1, ...pipeline };
    pipelines.push(full);
    return full;
  }

  addEnvironment(repo: FakeRepository, environment: FakeEnvironment): FakeEnvironment {
    (repo.environments ??= []).push(environment);
    return environment;
  }

  /** The issuer of a workspace's Pipelines step tokens: it names the workspace by slug, as Bitbucket's does. */
  oidcIssuer(workspace: string): string {
    return `${API}/workspaces/${this.workspaceRef(workspace).slug}/pipelines-config/identity/oidc`;
  }

  /** Replaces the workspace's signing key with a new one; keys.json keeps the old one beside it, as during a rotation. */
  rotateOidcKey(workspace: string): FakeOidcKey {
    const { uuid } = this.workspaceRef(workspace);
    const key = newOidcKey();
    this.oidcKeys.set(uuid, [key, ...(this.oidcKeys.get(uuid) ?? [])]);
    return key;
  }

  /**
   * `BITBUCKET_STEP_OIDC_TOKEN` for a step of a seeded pipeline, with the claims Bitbucket puts in one:
   * `iss`, `aud`, `sub` (`{repository}[:{environment}]:{step}`), `iat`, `exp`, `accountUuid`,
   * `workspaceUuid`, `repositoryUuid`, `pipelineUuid`, `stepUuid`, `deploymentEnvironmentUuid` for a
   * deployment step and `branchName` for a branch's pipeline. Bitbucket signs RS256; this fake signs
   * ES256 (P-256 keys are made in a millisecond), which the gate accepts the same way.
   */
  async mintStepToken(repo: FakeRepository, options: StepTokenOptions): Promise<string> {
    const pipeline = repo.pipelines?.find((p) => p.uuid === options.pipeline);
    if (!pipeline) throw new Error(`fake Bitbucket has no pipeline ${options.pipeline} in ${repo.slug}`);
    const workspace = this.workspaceRef(repo.workspace.uuid);
    const [key] = this.signingKeys(workspace.uuid);
    const step = options.step ?? `{${randomUUID()}}`;
    const issuedAt = Math.floor((options.now ?? new Date()).getTime() / 1000);
    const claims = {
      // The workspace's account, as Bitbucket names it; not the person who started the pipeline.
      accountUuid: workspace.uuid,
      workspaceUuid: workspace.uuid,
      repositoryUuid: repo.uuid,
      pipelineUuid: pipeline.uuid,
      stepUuid: step,
      ...(options.environment ? { deploymentEnvironmentUuid: options.environment } : {}),
      ...(pipeline.ref?.type === 'branch' ? { branchName: pipeline.ref.name } : {}),
      ...options.claims,
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: key!.kid, typ: 'JWT' })
      .setIssuer(options.issuer ?? this.oidcIssuer(workspace.uuid))
      .setAudience(options.audience ?? `ari:cloud:bitbucket::workspace/${workspace.uuid.replace(/[{}]/g, '')}`)
      .setSubject(`${repo.uuid}${options.environment ? `:${options.environment}` : ''}:${step}`)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + (options.ttlSeconds ?? 3600))
      .sign(options.signWith ?? createPrivateKey({ key: key!.privateJwk as any, format: 'jwk' }));
  }

  /** The workspace's keys, newest first, making its first on first use. */
  private signingKeys(workspace: string): FakeOidcKey[] {
    const keys = this.oidcKeys.get(workspace);
    if (keys?.length) return keys;
    const made = [newOidcKey()];
    this.oidcKeys.set(workspace, made);
    return made;
  }

  /** A workspace by UUID or slug, from those added or those the repositories name. */
  private workspaceRef(id: string): { uuid: string; slug: string } {
    const found = this.workspaces.find((w) => w.uuid === id || w.slug === id) ?? this.repositories.map((r) => r.workspace).find((w) => w.uuid === id || w.slug === id);
    if (!found) throw new BitbucketHttpError(404, `Workspace ${id} not found`);
    return { uuid: found.uuid, slug: found.slug };
  }

  /** Answers one request. `caller` is the account the platform acts as for `asUser()` calls. */
  handle(method: string, path: string, body: unknown, caller: string | undefined): FakeAnswer {
    const fault = this.faults.shift();
    if (fault) {
      const message = fault.status === 429 ? 'Rate limit for this resource has been exceeded' : 'Something went wrong';
      return { status: fault.status, json: { type: 'error', error: { message } }, ...(fault.retryAfter ? { headers: { 'Retry-After': String(fault.retryAfter) } } : {}) };
    }
    const url = new URL(path, 'https://api.bitbucket.org');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== '2.0') throw new BitbucketHttpError(404, 'Resource not found');

    // `GET /2.0/user`: the `account` of whoever is calling; only a user is anyone here.
    if (method === 'GET' && parts[1] === 'user' && parts.length === 2) {
      if (!caller) throw new BitbucketHttpError(401, 'This API is only accessible with the following authentication types: session, password, apppassword');
      return { status: 200, json: { ...this.account(caller), has_2fa_enabled: null, created_on: '2026-01-01T09:00:00.000000+00:00' } };
    }
    if (method === 'GET' && parts[1] === 'user' && parts[2] === 'workspaces' && parts[4] === 'permissions' && parts[5] === 'repositories') {
      return { status: 200, json: this.permissions(parts[3]!, url.searchParams.get('q'), caller) };
    }
    if (method === 'GET' && parts[1] === 'workspaces' && parts[3] === 'members' && parts.length === 4) {
      return { status: 200, json: this.members(parts[2]!, url.searchParams, caller) };
    }
    if (method === 'GET' && parts[1] === 'workspaces' && parts[3] === 'members' && parts.length === 5) {
      return { status: 200, json: this.membership(parts[2]!, parts[4]!, caller) };
    }
    if (method === 'GET' && parts[1] === 'workspaces' && parts.slice(3, 6).join('/') === 'pipelines-config/identity/oidc') {
      const oidc = parts.slice(6).join('/');
      if (oidc === '.well-known/openid-configuration') return { status: 200, json: this.openidConfiguration(parts[2]!) };
      if (oidc === 'keys.json') return { status: 200, json: this.oidcKeySet(parts[2]!) };
    }
    if (parts[1] !== 'repositories' || parts.length < 4) throw new BitbucketHttpError(404, 'Resource not found');
    const repo = this.findRepository(parts[2]!, parts[3]!);
    // Repositories here are private: a user without access is refused, as Bitbucket refuses them.
    if (caller && !repo.permissions[caller]) throw new BitbucketHttpError(403, 'You do not have access to this repository.');
    const rest = parts.slice(4);

    if (method === 'GET' && rest[0] === 'refs' && rest[1] === 'branches' && rest.length === 2) {
      return { status: 200, json: this.branchesPage(repo, url.searchParams) };
    }
    if (method === 'GET' && rest[0] === 'refs' && (rest[1] === 'tags' || rest[1] === 'branches') && rest.length === 3) {
      return { status: 200, json: this.refJson(repo, rest[1] === 'tags' ? 'tag' : 'branch', rest[2]!) };
    }
    if (method === 'GET' && rest[0] === 'environments' && rest.length === 1) {
      return { status: 200, json: this.environmentsPage(repo, url.searchParams) };
    }
    if (method === 'GET' && rest[0] === 'pullrequests' && rest.length === 1) {
      return { status: 200, json: this.pullRequestsPage(repo, url.searchParams) };
    }
    if (method === 'GET' && rest[0] === 'pullrequests' && rest.length === 2) {
      return { status: 200, json: this.pullRequestJson(repo, this.findPullRequest(repo, rest[1]!)) };
    }
    if (method === 'GET' && rest[0] === 'pullrequests' && rest[2] === 'commits' && rest.length === 3) {
      const pagelen = Number(url.searchParams.get('pagelen') ?? 10);
      if (!Number.isInteger(pagelen) || pagelen < 1 || pagelen > 100) throw new BitbucketHttpError(400, 'Invalid pagelen');
      return { status: 200, json: this.commitsPage(repo, this.findPullRequest(repo, rest[1]!), pagelen, Number(url.searchParams.get('page') ?? 1)) };
    }
    if (method === 'POST' && rest[0] === 'pullrequests' && rest[2] === 'merge' && rest.length === 3) {
      return this.merge(repo, this.findPullRequest(repo, rest[1]!), body);
    }
    if (method === 'GET' && rest[0] === 'pullrequests' && rest[2] === 'merge' && rest[3] === 'task-status' && rest.length === 5) {
      return this.taskStatus(repo, this.findPullRequest(repo, rest[1]!), rest[4]!);
    }
    if (method === 'GET' && rest[0] === 'commit' && rest.length === 2) {
      return { status: 200, json: this.commitJson(repo, rest[1]!) };
    }
    if (method === 'GET' && rest[0] === 'pipelines' && rest.length === 2) {
      return { status: 200, json: this.pipelineJson(repo, rest[1]!) };
    }
    if (method === 'GET' && rest[0] === 'environments' && rest.length === 2) {
      return { status: 200, json: this.environmentJson(repo, rest[1]!) };
    }
    if (method === 'POST' && rest[0] === 'commit' && rest[2] === 'statuses' && rest[3] === 'build' && rest.length === 4) {
      return { status: 201, json: this.postStatus(repo, rest[1]!, body) };
    }
    throw new BitbucketHttpError(404, 'Resource not found');
  }

  pushCommit(repo: FakeRepository, prId: number, commit: FakeCommit): void {
    this.findPullRequest(repo, String(prId)).commits.push(commit);
  }

  private findRepository(workspace: string, repoSlug: string): FakeRepository {
    const repo = this.repositories.find(
      (r) => (r.workspace.uuid === workspace || r.workspace.slug === workspace) && (r.uuid === repoSlug || r.slug === repoSlug),
    );
    if (!repo) throw new BitbucketHttpError(404, `Repository ${workspace}/${repoSlug} not found`);
    return repo;
  }

  private findPullRequest(repo: FakeRepository, id: string): FakePullRequest {
    const pr = repo.pullRequests.get(Number(id));
    if (!pr) throw new BitbucketHttpError(404, `Pull request ${id} not found`);
    return pr;
  }

  private account(accountId: string) {
    const user = this.users.get(accountId);
    if (!user) throw new Error(`fake Bitbucket has no user ${accountId}`);
    return {
      type: 'user',
      display_name: user.displayName,
      uuid: user.uuid,
      account_id: user.accountId,
      nickname: user.displayName.toLowerCase(),
      links: { self: { href: `${API}/users/${encodeURIComponent(user.uuid)}` } },
    };
  }

  private repositoryJson(repo: FakeRepository) {
    return {
      type: 'repository',
      uuid: repo.uuid,
      name: repo.slug,
      full_name: `${repo.workspace.slug}/${repo.slug}`,
      links: { self: { href: `${API}/repositories/${repo.workspace.slug}/${repo.slug}` } },
    };
  }

  private pullRequestJson(repo: FakeRepository, pr: FakePullRequest) {
    const head = pr.commits[pr.commits.length - 1]!;
    const merged = mergeCommitOf(repo, pr);
    const self = `${API}/repositories/${repo.workspace.slug}/${repo.slug}/pullrequests/${pr.id}`;
    const participants = [
      ...pr.reviewers.map((id) => ({ type: 'participant', user: this.account(id), role: 'REVIEWER', approved: false, state: null })),
      ...[...new Set(pr.commits.map((c) => c.author))]
        .filter((id) => id !== pr.author && !pr.reviewers.includes(id))
        .map((id) => ({ type: 'participant', user: this.account(id), role: 'PARTICIPANT', approved: false, state: null })),
    ];
    return {
      type: 'pullrequest',
      id: pr.id,
      title: pr.title,
      state: pr.state,
      author: this.account(pr.author),
      source: {
        branch: { name: pr.sourceBranch },
        // Bitbucket Cloud abbreviates this hash to 12 hex digits.
        commit: { type: 'commit', hash: head.hash.slice(0, 12), links: { self: { href: `${API}/repositories/${repo.workspace.slug}/${repo.slug}/commit/${head.hash.slice(0, 12)}` } } },
        repository: this.repositoryJson(repo),
      },
      destination: {
        branch: { name: pr.targetBranch },
        commit: { type: 'commit', hash: 'a'.repeat(12) },
        repository: this.repositoryJson(repo),
      },
      // Bitbucket names the merge commit abbreviated, like the source commit; null until merged.
      merge_commit: merged ? { hash: merged.slice(0, 12) } : null,
      closed_by: pr.state !== 'OPEN' && pr.closedBy ? this.account(pr.closedBy) : null,
      participants,
      reviewers: pr.reviewers.map((id) => this.account(id)),
      comment_count: 0,
      task_count: 0,
      close_source_branch: false,
      created_on: '2026-11-01T09:00:00.000000+00:00',
      updated_on: '2026-11-01T09:00:00.000000+00:00',
      links: { self: { href: self }, commits: { href: `${self}/commits` }, html: { href: `https://bitbucket.org/${repo.workspace.slug}/${repo.slug}/pull-requests/${pr.id}` } },
    };
  }

  /** `GET …/pullrequests?state=…`: a paginated list in `paginated_pullrequests` shape (10 a page unless `pagelen`, at most 50). */
  private pullRequestsPage(repo: FakeRepository, query: URLSearchParams) {
    const state = query.get('state') ?? 'OPEN';
    const pagelen = Number(query.get('pagelen') ?? 10);
    const page = Number(query.get('page') ?? 1);
    if (!Number.isInteger(pagelen) || pagelen < 1 || pagelen > 50) throw new BitbucketHttpError(400, 'Invalid pagelen');
    const all = [...repo.pullRequests.values()].filter((pr) => pr.state === state).sort((a, b) => a.id - b.id);
    const values = all.slice((page - 1) * pagelen, page * pagelen).map((pr) => this.pullRequestJson(repo, pr));
    const base = `${API}/repositories/${repo.workspace.slug}/${repo.slug}/pullrequests?state=${state}&pagelen=${pagelen}`;
    return { pagelen, page, size: all.length, values, ...(page * pagelen < all.length ? { next: `${base}&page=${page + 1}` } : {}) };
  }

  private commitsPage(repo: FakeRepository, pr: FakePullRequest, pagelen: number, page: number) {
    const newestFirst = [...pr.commits].reverse();
    const values = newestFirst.slice((page - 1) * pagelen, page * pagelen).map((c) => ({
      type: 'commit',
      hash: c.hash,
      message: c.message,
      date: '2026-11-01T09:00:00+00:00',
      author: { type: 'author', raw: `${this.users.get(c.author)?.displayName ?? 'Someone'} <dev@example.com>`, user: this.account(c.author) },
      parents: [],
      repository: this.repositoryJson(repo),
    }));
    const base = `${API}/repositories/${repo.workspace.slug}/${repo.slug}/pullrequests/${pr.id}/commits?pagelen=${pagelen}`;
    return {
      pagelen,
      page,
      values,
      ...(page * pagelen < newestFirst.length ? { next: `${base}&page=${page + 1}` } : {}),
    };
  }

  private permissions(workspace: string, q: string | null, caller: string | undefined) {
    if (!caller) throw new BitbucketHttpError(401, 'This API is only accessible with the following authentication types: session, password, apppassword');
    const match = q === null ? null : /^repository\.uuid\s*=\s*"(\{[^"]+\})"$/.exec(q);
    if (q !== null && !match) throw new BitbucketHttpError(400, `Invalid query: ${q}`);
    const inWorkspace = this.repositories.filter((r) => r.workspace.uuid === workspace || r.workspace.slug === workspace);
    const repos = match ? inWorkspace.filter((r) => r.uuid === match[1]) : inWorkspace;
    const values = repos
      .filter((r) => r.permissions[caller])
      .map((r) => ({ type: 'repository_permission', permission: r.permissions[caller], user: this.account(caller), repository: this.repositoryJson(r) }));
    return { pagelen: 10, page: 1, size: values.length, values };
  }

  /**
   * `paginated_workspace_memberships`; only members may list a workspace's members. Bitbucket's only
   * filter here is `q=user.email IN (…)` (for workspace admins), and this fake keeps no emails, so any
   * `q` is refused rather than silently ignored: a client must page through, as against Bitbucket.
   */
  private members(workspaceId: string, query: URLSearchParams, caller: string | undefined) {
    const workspace = this.memberWorkspace(workspaceId, caller);
    if (query.has('q')) throw new BitbucketHttpError(400, `Invalid query: workspace members can only be filtered by user.email (${query.get('q')})`);
    const { pagelen, page } = paging(query, 10, 100);
    const values = workspace.members.slice((page - 1) * pagelen, page * pagelen).map((id) => this.membershipJson(workspace, id));
    const base = `${API}/workspaces/${workspace.slug}/members?pagelen=${pagelen}`;
    return {
      pagelen,
      page,
      size: workspace.members.length,
      values,
      ...(page * pagelen < workspace.members.length ? { next: `${base}&page=${page + 1}` } : {}),
      ...(page > 1 ? { previous: `${base}&page=${page - 1}` } : {}),
    };
  }

  /** `workspace_membership` of one member, named by account id or `{uuid}`; 404 for anyone not a member. */
  private membership(workspaceId: string, member: string, caller: string | undefined) {
    const workspace = this.memberWorkspace(workspaceId, caller);
    const user = this.users.get(member) ?? [...this.users.values()].find((u) => u.uuid === member);
    if (!user || !workspace.members.includes(user.accountId)) throw new BitbucketHttpError(404, `${member} is not a member of ${workspace.slug}`);
    return this.membershipJson(workspace, user.accountId);
  }

  private memberWorkspace(workspaceId: string, caller: string | undefined): FakeWorkspace {
    const workspace = this.workspaces.find((w) => w.uuid === workspaceId || w.slug === workspaceId);
    if (!workspace) throw new BitbucketHttpError(404, `Workspace ${workspaceId} not found`);
    if (caller && !workspace.members.includes(caller)) throw new BitbucketHttpError(403, 'You are not a member of this workspace');
    return workspace;
  }

  private membershipJson(workspace: FakeWorkspace, id: string) {
    return {
      type: 'workspace_membership',
      user: this.account(id),
      workspace: { type: 'workspace', uuid: workspace.uuid, slug: workspace.slug, name: workspace.name },
      links: { self: { href: `${API}/workspaces/${workspace.slug}/members/${encodeURIComponent(this.users.get(id)!.uuid)}` } },
    };
  }

  /** `paginated_branches`, in git's (lexical) order, 10 a page unless `pagelen` (at most 100), filtered by `name = "…"` and `name ~ "…"` (contains, ignoring case) clauses joined by AND. */
  private branchesPage(repo: FakeRepository, query: URLSearchParams) {
    const { pagelen, page } = paging(query, 10, 100);
    const q = query.get('q');
    let names = branchesOf(repo);
    if (q !== null) {
      for (const { op, value } of nameClauses(q)) {
        names = op === '=' ? names.filter((n) => n === value) : names.filter((n) => n.toLowerCase().includes(value.toLowerCase()));
      }
    }
    const head = repo.pullRequests.size ? [...repo.pullRequests.values()][0]!.commits.at(-1)!.hash : 'a'.repeat(40);
    const self = `${API}/repositories/${repo.workspace.slug}/${repo.slug}`;
    const values = names.slice((page - 1) * pagelen, page * pagelen).map((name) => ({
      type: 'branch',
      name,
      target: { type: 'commit', hash: head, repository: this.repositoryJson(repo), links: { self: { href: `${self}/commit/${head}` } } },
      links: { self: { href: `${self}/refs/branches/${name}` }, commits: { href: `${self}/commits/${name}` }, html: { href: `https://bitbucket.org/${repo.workspace.slug}/${repo.slug}/branch/${name}` } },
      merge_strategies: ['merge_commit', 'squash', 'fast_forward'],
      default_merge_strategy: 'merge_commit',
    }));
    const base = `${self}/refs/branches?pagelen=${pagelen}${q !== null ? `&q=${encodeURIComponent(q)}` : ''}`;
    return {
      pagelen,
      page,
      size: names.length,
      values,
      ...(page * pagelen < names.length ? { next: `${base}&page=${page + 1}` } : {}),
      ...(page > 1 ? { previous: `${base}&page=${page - 1}` } : {}),
    };
  }

  /**
   * `paginated_environments`, ordered as Bitbucket shows them (Test, Staging, Production; the order
   * added within a type), 10 a page unless `pagelen` (at most 100). Each is a `deployment_environment`
   * with the fields Bitbucket sends beyond the description's `uuid` and `name`: its type, rank and slug.
   */
  private environmentsPage(repo: FakeRepository, query: URLSearchParams) {
    const { pagelen, page } = paging(query, 10, 100);
    const all = (repo.environments ?? []).map((env, added) => ({ env, added })).sort((a, b) => ENVIRONMENT_TYPE_RANK[a.env.type] - ENVIRONMENT_TYPE_RANK[b.env.type] || a.added - b.added);
    const values = all.slice((page - 1) * pagelen, page * pagelen).map(({ env }, i) => environmentShape(env, (page - 1) * pagelen + i));
    const base = `${API}/repositories/${repo.workspace.slug}/${repo.slug}/environments?pagelen=${pagelen}`;
    return {
      pagelen,
      page,
      size: all.length,
      values,
      ...(page * pagelen < all.length ? { next: `${base}&page=${page + 1}` } : {}),
      ...(page > 1 ? { previous: `${base}&page=${page - 1}` } : {}),
    };
  }

  private postStatus(repo: FakeRepository, commit: string, body: any) {
    if (repo.failStatusesWith) throw new BitbucketHttpError(repo.failStatusesWith, 'Service unavailable');
    if (!body || typeof body.key !== 'string' || !['INPROGRESS', 'SUCCESSFUL', 'FAILED', 'STOPPED'].includes(body.state) || typeof body.url !== 'string') {
      throw new BitbucketHttpError(400, 'key, state and url are required');
    }
    // Bitbucket refuses a description longer than 255 characters rather than cutting it.
    if (typeof body.description === 'string' && body.description.length > 255) throw new BitbucketHttpError(400, 'description: Ensure this value has at most 255 characters');
    const status = { commit, key: body.key, state: body.state, name: body.name, description: body.description, url: body.url, ...(body.refname ? { refname: body.refname } : {}) };
    repo.statuses.push(status);
    return { type: 'build', key: body.key, state: body.state, name: body.name, description: body.description, url: body.url, refname: body.refname, created_on: '2026-11-01T09:00:00+00:00', updated_on: '2026-11-01T09:00:00+00:00' };
  }

  /** `POST …/pullrequests/{id}/merge` (`pullrequest_merge_parameters`): 200 with the merged pull request, or 202 and a task to poll. */
  private merge(repo: FakeRepository, pr: FakePullRequest, body: any): FakeAnswer {
    const strategy = body?.merge_strategy ?? 'merge_commit';
    if (!['merge_commit', 'squash', 'fast_forward', 'squash_fast_forward', 'rebase_fast_forward', 'rebase_merge'].includes(strategy)) {
      throw new BitbucketHttpError(400, `merge_strategy: "${strategy}" is not a valid choice`);
    }
    if (pr.state !== 'OPEN') throw new BitbucketHttpError(400, `You can't merge a pull request that is ${pr.state.toLowerCase()}.`);
    if (repo.refuseMergesWith) throw new BitbucketHttpError(repo.refuseMergesWith.status, repo.refuseMergesWith.message);
    if (repo.requirePassingBuilds) {
      const builds = buildsVerdict(repo, pr);
      if (!builds.success) throw new BitbucketHttpError(400, builds.message);
    }
    if (repo.mergeTaskPolls) {
      const id = `task-${++this.taskSeq}`;
      this.tasks.set(id, { repo, pullRequest: pr.id, pending: repo.mergeTaskPolls, strategy });
      const location = `${API}/repositories/${repo.workspace.slug}/${repo.slug}/pullrequests/${pr.id}/merge/task-status/${id}`;
      return { status: 202, json: undefined, headers: { Location: location } };
    }
    this.completeMerge(repo, pr, strategy);
    return { status: 200, json: this.pullRequestJson(repo, pr) };
  }

  private taskStatus(repo: FakeRepository, pr: FakePullRequest, id: string): FakeAnswer {
    const task = this.tasks.get(id);
    if (!task || task.repo !== repo || task.pullRequest !== pr.id) throw new BitbucketHttpError(400, 'The task ID does not relate to this pull request');
    const self = { href: `${API}/repositories/${repo.workspace.slug}/${repo.slug}/pullrequests/${pr.id}/merge/task-status/${id}` };
    if (task.pending > 0) {
      task.pending--;
      return { status: 200, json: { task_status: 'PENDING', links: { self } } };
    }
    if (pr.state === 'OPEN') this.completeMerge(repo, pr, task.strategy);
    return { status: 200, json: { task_status: 'SUCCESS', links: { self }, merge_result: this.pullRequestJson(repo, pr) } };
  }

  private completeMerge(repo: FakeRepository, pr: FakePullRequest, strategy: string): void {
    pr.state = 'MERGED';
    pr.mergeCommit = mergeCommitOf(repo, pr, strategy);
    (repo.heads ??= {})[pr.targetBranch] = pr.mergeCommit!;
    (repo.merges ??= []).push({ pullRequest: pr.id, strategy, commit: pr.commits[pr.commits.length - 1]!.hash, mergeCommit: pr.mergeCommit });
  }

  /** `GET …/pipelines/{uuid}` (`pipeline`), by the braced UUID. */
  private pipelineJson(repo: FakeRepository, uuid: string) {
    const pipeline = repo.pipelines?.find((p) => p.uuid === uuid);
    if (!pipeline) throw new BitbucketHttpError(404, `Pipeline ${uuid} not found`);
    const self = `${API}/repositories/${repo.workspace.slug}/${repo.slug}`;
    const commit = { type: 'commit', hash: pipeline.commit, links: { self: { href: `${self}/commit/${pipeline.commit}` } } };
    const target = pipeline.ref
      ? { type: 'pipeline_ref_target', ref_type: pipeline.ref.type, ref_name: pipeline.ref.name, commit, selector: { type: pipeline.ref.type === 'branch' ? 'branches' : 'tags', pattern: pipeline.ref.name } }
      : { type: 'pipeline_commit_target', commit, selector: { type: 'custom', pattern: 'deploy' } };
    return {
      type: 'pipeline',
      uuid: pipeline.uuid,
      build_number: pipeline.buildNumber,
      ...(pipeline.creator ? { creator: this.account(pipeline.creator) } : {}),
      repository: this.repositoryJson(repo),
      target,
      trigger: pipeline.creator ? { type: 'pipeline_trigger_manual' } : { type: 'pipeline_trigger_push' },
      state: { type: 'pipeline_state_in_progress', name: 'IN_PROGRESS', stage: { type: 'pipeline_state_in_progress_running', name: 'RUNNING' } },
      created_on: '2026-11-01T09:00:00.000000+00:00',
      build_seconds_used: 0,
      links: { self: { href: `${self}/pipelines/${encodeURIComponent(pipeline.uuid)}` } },
    };
  }

  /**
   * `GET …/refs/tags/{name}` (`tag`) and `…/refs/branches/{name}` (`branch`): a tag from `tags`, a branch
   * from `heads` (the fake knows a branch's head only once something set it); 404 for any other name.
   */
  private refJson(repo: FakeRepository, type: 'tag' | 'branch', name: string) {
    const hash = type === 'tag' ? repo.tags?.find((t) => t.name === name)?.commit : Object.prototype.hasOwnProperty.call(repo.heads ?? {}, name) ? repo.heads![name] : undefined;
    if (!hash) throw new BitbucketHttpError(404, type === 'tag' ? `Tag "${name}" not found` : `Branch "${name}" not found`);
    const self = `${API}/repositories/${repo.workspace.slug}/${repo.slug}`;
    const target = { type: 'commit', hash, links: { self: { href: `${self}/commit/${hash}` } } };
    const links = { self: { href: `${self}/refs/${type === 'tag' ? 'tags' : 'branches'}/${encodeURIComponent(name)}` }, commits: { href: `${self}/commits/${encodeURIComponent(name)}` } };
    return type === 'tag'
      ? { type: 'tag', name, target, links, message: null, date: null, tagger: null }
      : { type: 'branch', name, target, links, merge_strategies: ['merge_commit', 'squash', 'fast_forward'], default_merge_strategy: 'merge_commit' };
  }

  /** `GET …/environments/{uuid}` (`deployment_environment`). */
  private environmentJson(repo: FakeRepository, uuid: string) {
    const environment = repo.environments?.find((e) => e.uuid === uuid);
    if (!environment) throw new BitbucketHttpError(404, `Environment ${uuid} not found`);
    return environmentShape(environment, (repo.environments ?? []).indexOf(environment));
  }

  /** The workspace's OpenID configuration: its issuer (named by slug) and where its keys are. */
  private openidConfiguration(workspace: string) {
    const issuer = this.oidcIssuer(workspace);
    return {
      issuer,
      jwks_uri: `${issuer}/keys.json`,
      subject_types_supported: ['public'],
      response_types_supported: ['id_token'],
      id_token_signing_alg_values_supported: ['ES256'],
      claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'accountUuid', 'workspaceUuid', 'repositoryUuid', 'pipelineUuid', 'stepUuid', 'deploymentEnvironmentUuid', 'branchName'],
      scopes_supported: ['openid'],
    };
  }

  /** keys.json: the public halves of the workspace's signing keys. */
  private oidcKeySet(workspace: string) {
    return {
      keys: this.signingKeys(this.workspaceRef(workspace).uuid).map(({ kid, privateJwk }) => {
        const { d: _private, ...publicJwk } = privateJwk;
        return { ...publicJwk, kid, alg: 'ES256', use: 'sig' };
      }),
    };
  }

  /**
   * `GET …/commit/{commit}` (`commit`): a pull request's commit or a merge commit, named by its full hash
   * or a prefix of at least 7 hex digits; 404 for anything else, as for a commit not in the repository.
   */
  private commitJson(repo: FakeRepository, hash: string) {
    if (!/^[0-9a-f]{7,40}$/.test(hash)) throw new BitbucketHttpError(404, `Commit ${hash} not found`);
    const known = [...repo.pullRequests.values()].flatMap((pr) => [
      ...pr.commits.map((c) => ({ hash: c.hash, author: c.author, message: c.message, parents: [] as string[] })),
      ...(pr.state === 'MERGED' ? [{ hash: mergeCommitOf(repo, pr)!, author: pr.author, message: `Merged in ${pr.sourceBranch} (pull request #${pr.id})`, parents: [pr.commits[pr.commits.length - 1]!.hash] }] : []),
    ]);
    known.push(...(repo.commits ?? []).map((c) => ({ hash: c.hash, author: c.author, message: c.message, parents: [] as string[] })));
    const matches = [...new Map(known.filter((c) => c.hash.startsWith(hash)).map((c) => [c.hash, c])).values()];
    if (matches.length !== 1) throw new BitbucketHttpError(404, `Commit ${hash} not found`);
    const commit = matches[0]!;
    const self = `${API}/repositories/${repo.workspace.slug}/${repo.slug}`;
    return {
      type: 'commit',
      hash: commit.hash,
      message: commit.message,
      date: '2026-11-01T09:00:00+00:00',
      author: { type: 'author', raw: `${this.users.get(commit.author)?.displayName ?? 'Someone'} <dev@example.com>`, user: this.account(commit.author) },
      parents: commit.parents.map((p) => ({ type: 'commit', hash: p, links: { self: { href: `${self}/commit/${p}` } } })),
      repository: this.repositoryJson(repo),
      links: { self: { href: `${self}/commit/${commit.hash}` }, html: { href: `https://bitbucket.org/${repo.workspace.slug}/${repo.slug}/commits/${commit.hash}` } },
    };
  }
}

function newOidcKey(): FakeOidcKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const privateJwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const kid = createHash('sha256').update(`${privateJwk.x}.${privateJwk.y}`).digest('hex').slice(0, 32);
  return { kid, privateJwk };
}

/** `pagelen` (default `byDefault`, at most `max`) and `page` (from 1); anything else is Bitbucket's 400. */
function paging(query: URLSearchParams, byDefault: number, max: number): { pagelen: number; page: number } {
  const pagelen = Number(query.get('pagelen') ?? byDefault);
  if (!Number.isInteger(pagelen) || pagelen < 1 || pagelen > max) throw new BitbucketHttpError(400, 'Invalid pagelen');
  const page = Number(query.get('page') ?? 1);
  if (!Number.isInteger(page) || page < 1) throw new BitbucketHttpError(400, 'Invalid page');
  return { pagelen, page };
}

/** A repository's open branches, sorted as git lists them. */
export function branchesOf(repo: Pick<FakeRepository, 'branches' | 'pullRequests'>): string[] {
  // An open pull request's branches exist, whatever else the repository was seeded with.
  const open = [...repo.pullRequests.values()].filter((pr) => pr.state === 'OPEN').flatMap((pr) => [pr.targetBranch, pr.sourceBranch]);
  return [...new Set([...(repo.branches ?? ['main']), ...open])].sort();
}

/** The part of BBQL the fake reads on branches: `name = "…"` and `name ~ "…"` clauses joined by AND; anything else is Bitbucket's 400. */
function nameClauses(q: string): { op: '=' | '~'; value: string }[] {
  const clause = /\s*name\s*(=|~)\s*"((?:[^"\\]|\\.)*)"\s*(AND\b|$)/y;
  const clauses: { op: '=' | '~'; value: string }[] = [];
  let last = '';
  while (clause.lastIndex < q.length) {
    const match = clause.exec(q);
    if (!match) throw new BitbucketHttpError(400, `Invalid query: ${q}`);
    clauses.push({ op: match[1] as '=' | '~', value: match[2]!.replace(/\\(.)/g, '$1') });
    last = match[3]!;
  }
  if (clauses.length === 0 || last === 'AND') throw new BitbucketHttpError(400, `Invalid query: ${q}`);
  return clauses;
}
