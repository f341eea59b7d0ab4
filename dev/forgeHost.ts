import { AsyncLocalStorage } from 'node:async_hooks';
import { BitbucketHttpError, FakeBitbucket } from './fakeBitbucket';
import { FakeKvs, KvsHttpError, type EntityIndexes, type EntitySchemas } from './fakeKvs';
import { manifestIndexes } from './manifestEntities';
import { FakeQueue } from './fakeQueue';

export interface CallLog {
  kvs: string[];
  bitbucket: string[];
  queue: string[];
}

const principal = new AsyncLocalStorage<string>();

/**
 * Stands in for the Forge runtime: installs `globalThis.__forge_fetch__`, the one global through which
 * `@forge/kvs` and `@forge/api` reach storage and products, and routes each call to the fakes.
 * Optional latency is added to every call, so tests can measure round trips and interleave requests.
 */
export class ForgeHost {
  readonly calls: CallLog = { kvs: [], bitbucket: [], queue: [] };
  /** Forge's async events (`@forge/events`), reached like KVS through `__forge_fetch__`. */
  readonly queue = new FakeQueue();
  latencyMs = 0;
  /** Per-service latency, where it differs (KVS answers faster than Bitbucket); overrides `latencyMs`. */
  latency: { kvs?: number; bitbucket?: number } = {};
  /** Accounts that have not yet allowed the app to act as them: their asUser() calls get the consent prompt. */
  readonly awaitingConsent = new Set<string>();
  /** The URL `webTrigger.getUrl(moduleKey)` answers for each web trigger; by default a Forge-shaped one per key. */
  readonly webTriggerUrls = new Map<string, string>();
  /** Whether `install()` put in the runtime global (so `uninstall()` takes out only its own). */
  private installedRuntime = false;

  constructor(
    readonly kvs: FakeKvs,
    readonly bitbucket: FakeBitbucket,
  ) {}

  /** `indexes`: the custom entity indexes; by default those manifest.yml declares on the entities in `schemas`. */
  static create(schemas: EntitySchemas, now?: () => number, indexes: EntityIndexes = declaredIndexes(schemas)): ForgeHost {
    return new ForgeHost(new FakeKvs(schemas, now, indexes), new FakeBitbucket());
  }

  install(): void {
    (globalThis as any).__forge_fetch__ = (descriptor: any, path: string, init: RequestInit = {}) => this.fetch(descriptor, path, init);
    // `@forge/api`'s web trigger calls read the app's ids and report metrics through the runtime global.
    if (!(globalThis as any).__forge_runtime__) {
      (globalThis as any).__forge_runtime__ = FORGE_RUNTIME;
      this.installedRuntime = true;
    }
  }

  uninstall(): void {
    delete (globalThis as any).__forge_fetch__;
    if (this.installedRuntime) delete (globalThis as any).__forge_runtime__;
    this.installedRuntime = false;
  }

  resetCalls(): void {
    this.calls.kvs.length = 0;
    this.calls.bitbucket.length = 0;
    this.calls.queue.length = 0;
  }

  /** Runs `fn` as an invocation made by `accountId`, which `asUser()` calls act as. */
  actAs<T>(accountId: string, fn: () => Promise<T>): Promise<T> {
    return principal.run(accountId, fn);
  }

  /** The one platform query the app makes: `createWebTriggerUrl`, answered from `webTriggerUrls`. */
  private graphql(body: { query?: string; variables?: { input?: { triggerKey?: string } } } | undefined): unknown {
    const key = body?.variables?.input?.triggerKey;
    if (!body?.query?.includes('createWebTriggerUrl') || typeof key !== 'string') return { errors: [{ message: 'ForgeHost answers only createWebTriggerUrl' }] };
    return { data: { createWebTriggerUrl: { url: this.webTriggerUrls.get(key) ?? `https://countersign-local.hello.atlassian-dev.net/x1/${key}` } } };
  }

  private async fetch(descriptor: any, path: string, init: RequestInit): Promise<Response> {
    const service = descriptor?.type === 'kvs' ? 'kvs' : descriptor?.remote === 'stargate' ? 'queue' : 'bitbucket';
    const delay = ((service === 'queue' ? this.latency.kvs : this.latency[service]) ?? this.latencyMs) / 2;
    if (delay) await sleep(delay);
    try {
      if (descriptor?.type === 'kvs') {
        this.calls.kvs.push(path);
        const body = init.body ? JSON.parse(String(init.body)) : undefined;
        return jsonResponse(200, this.kvs.handle(path, body));
      }
      // `webTrigger.getUrl` asks the platform's GraphQL API, as the app.
      if (descriptor?.type === 'fpp' && descriptor.remote === 'stargate' && descriptor.provider === 'app' && path === '/graphql') {
        return jsonResponse(200, this.graphql(init.body ? JSON.parse(String(init.body)) : undefined));
      }
      // `@forge/events` posts to the platform as the app, over the stargate remote.
      if (descriptor?.type === 'fpp' && descriptor.remote === 'stargate' && descriptor.provider === 'app') {
        this.calls.queue.push(path);
        const { status, json } = this.queue.handle(path, init.body ? JSON.parse(String(init.body)) : undefined);
        return jsonResponse(status, json);
      }
      if (descriptor?.type === 'fpp' && descriptor.remote === 'bitbucket') {
        const method = (init.method ?? 'GET').toUpperCase();
        this.calls.bitbucket.push(`${method} ${path}`);
        const caller = descriptor.provider === 'user' ? (descriptor.accountId ?? principal.getStore()) : undefined;
        if (caller && this.awaitingConsent.has(caller)) {
          return new Response(null, { status: 401, headers: { 'forge-proxy-error': 'NEEDS_AUTHENTICATION_ERR' } });
        }
        const body = init.body ? JSON.parse(String(init.body)) : undefined;
        const { status, json, headers } = this.bitbucket.handle(method, path, body, caller);
        return jsonResponse(status, json, headers);
      }
      return jsonResponse(500, { message: `ForgeHost cannot route ${JSON.stringify(descriptor)}` });
    } catch (error) {
      if (error instanceof KvsHttpError) return jsonResponse(error.status, { code: error.code, message: error.message });
      if (error instanceof BitbucketHttpError) return jsonResponse(error.status, { type: 'error', error: { message: error.message } });
      throw error;
    } finally {
      if (delay) await sleep(delay);
    }
  }
}

const FORGE_RUNTIME = {
  appContext: { appId: 'countersign-local', environmentId: 'development' },
  contextAri: 'ari:cloud:bitbucket::workspace/local',
  metrics: {
    counter: () => ({ incr: () => undefined }),
    timing: () => ({ measure: () => ({ stop: () => undefined }) }),
  },
};

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The indexes manifest.yml declares, on the entities `schemas` has. */
function declaredIndexes(schemas: EntitySchemas): EntityIndexes {
  return Object.fromEntries(Object.entries(manifestIndexes()).filter(([name]) => name in schemas));
}
