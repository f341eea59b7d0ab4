import type { FakeBitbucket, FakeDeployment, FakePullRequest, FakeRepository } from '../dev/fakeBitbucket';
import type { FakeQueue } from '../dev/fakeQueue';

/** The Bitbucket product events Countersign's `trigger` modules subscribe to (manifest.yml). */
export type PullRequestEventType =
  | 'avi:bitbucket:created:pullrequest'
  | 'avi:bitbucket:updated:pullrequest'
  | 'avi:bitbucket:fulfilled:pullrequest'
  | 'avi:bitbucket:rejected:pullrequest';
export const PUSH_EVENT = 'avi:bitbucket:push:repository';
export type DeploymentEventType = 'avi:bitbucket:pending:deployment' | 'avi:bitbucket:started:deployment' | 'avi:bitbucket:completed:deployment';

/** Who caused an event: a user, or the app itself (its own merge). */
export type Actor = { type: 'user'; accountId: string } | { type: 'app' };

/**
 * A thin product event as Forge delivers it to a trigger: ids only; a pull request event carries the
 * head commit abbreviated to 12 hex digits, as Bitbucket Cloud abbreviates it, and nothing else of the
 * pull request.
 */
export interface ProductEvent {
  eventType: PullRequestEventType | typeof PUSH_EVENT | DeploymentEventType;
  actor: Actor;
  workspace: { uuid: string };
  repository: { uuid: string };
  pullrequest?: { id: number; source: { commit: { hash: string } } };
  /** A deployment event's: the pipeline, the deployment (with its outcome once completed) and its environment; no commit. */
  pipeline?: { uuid: string };
  deployment?: { uuid: string; state: string; status?: string };
  environment?: { uuid: string; name: string };
}

export interface EventHandlers {
  /** `pull-request-events`: the pull request triggers. */
  pullRequest: (event: unknown) => Promise<unknown>;
  /** `push-events`: `avi:bitbucket:push:repository`. */
  push: (event: unknown) => Promise<unknown>;
  /** `deployment-events`: `avi:bitbucket:{pending,started,completed}:deployment`. */
  deployment: (event: unknown) => Promise<unknown>;
}

/** What was delivered, for tests and for looking back: the event (or queued request) and what its handler returned. */
export interface Delivery {
  kind: 'trigger' | 'consumer';
  event: unknown;
  outcome: unknown;
}

const HISTORY = 200;

export function pullRequestEvent(eventType: PullRequestEventType, repo: FakeRepository, pr: FakePullRequest, actor: Actor): ProductEvent {
  const head = pr.commits[pr.commits.length - 1]!.hash;
  return {
    eventType,
    actor,
    workspace: { uuid: repo.workspace.uuid },
    repository: { uuid: repo.uuid },
    pullrequest: { id: pr.id, source: { commit: { hash: head.slice(0, 12) } } },
  };
}

export function pushEvent(repo: FakeRepository, actor: Actor): ProductEvent {
  return { eventType: PUSH_EVENT, actor, workspace: { uuid: repo.workspace.uuid }, repository: { uuid: repo.uuid } };
}

/** A deployment event, thin as Bitbucket sends it: ids, the environment's name, the deployment's state (and outcome once completed). */
export function deploymentEvent(repo: FakeRepository, deployment: FakeDeployment, environment: { uuid: string; name: string }, actor: Actor): ProductEvent {
  const eventType: DeploymentEventType = deployment.state === 'PENDING' ? 'avi:bitbucket:pending:deployment' : deployment.state === 'IN_PROGRESS' ? 'avi:bitbucket:started:deployment' : 'avi:bitbucket:completed:deployment';
  return {
    eventType,
    actor,
    workspace: { uuid: repo.workspace.uuid },
    repository: { uuid: repo.uuid },
    pipeline: { uuid: deployment.pipeline },
    deployment: { uuid: deployment.uuid, state: deployment.state, ...(deployment.status ? { status: deployment.status } : {}) },
    environment: { uuid: environment.uuid, name: environment.name },
  };
}

/**
 * The platform's side of Countersign's events, run in the background: product events go to the
 * trigger handlers, and whatever is pushed to the `@forge/events` queue (by triggers, resolvers or the
 * consumer itself) goes to its consumer, one at a time and in order. Nothing here blocks the answer to
 * the page: work starts on the next turn of the event loop. A handler's failure is logged and the
 * next event is delivered. When the app itself merges or declines a pull request, the event Bitbucket
 * would send for it is emitted too, as the app's own merge comes back to it on Forge.
 */
export class EventPump {
  private readonly outbox: ProductEvent[] = [];
  private running?: Promise<void>;
  private started = false;
  readonly history: Delivery[] = [];

  constructor(
    private readonly bitbucket: FakeBitbucket,
    private readonly queue: FakeQueue,
    private readonly handlers: EventHandlers,
    /** After each delivery (to keep the state file current). */
    private readonly afterEach: () => void,
  ) {}

  /** Starts delivering (once the Forge fakes are installed); until then events wait. */
  start(): void {
    this.started = true;
    this.kick();
  }

  stop(): void {
    this.started = false;
  }

  emit(event: ProductEvent): void {
    this.outbox.push(event);
    this.kick();
  }

  /** Delivers what is waiting, if nothing is delivering already (call it after anything that may push to the queue). */
  kick(): void {
    if (!this.started || this.running || (this.outbox.length === 0 && this.queue.pending.length === 0)) return;
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run())
      .finally(() => {
        this.running = undefined;
        // Anything emitted while the last delivery was finishing.
        this.kick();
      });
  }

  /** Resolves when nothing is waiting or being delivered. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Forgets what has not been delivered yet (Reset demo). */
  clear(): void {
    this.outbox.length = 0;
    this.queue.pending.length = 0;
  }

  private async run(): Promise<void> {
    while (this.started && (this.outbox.length > 0 || this.queue.pending.length > 0)) {
      const before = this.states();
      const product = this.outbox.shift();
      if (product) await this.deliver('trigger', product, () => this.handlerFor(product)(product));
      else {
        const queued = this.queue.pending.shift()!;
        await this.deliver('consumer', queued, () => this.queue.consumerFor(queued.queueName)(queued));
      }
      this.closedByTheApp(before);
      try {
        this.afterEach();
      } catch (error) {
        console.error('Local host: could not save its state after delivering an event.', error);
      }
    }
  }

  private handlerFor(event: ProductEvent): (event: unknown) => Promise<unknown> {
    if (event.deployment) return this.handlers.deployment;
    return event.pullrequest ? this.handlers.pullRequest : this.handlers.push;
  }

  private async deliver(kind: Delivery['kind'], event: unknown, call: () => Promise<unknown>): Promise<void> {
    let outcome: unknown;
    try {
      outcome = await call();
    } catch (error) {
      console.error(`Local host: the ${kind === 'trigger' ? 'trigger' : 'queue consumer'} failed on ${describe(event)}.`, error);
      outcome = { thrown: String(error) };
    }
    this.history.push({ kind, event, outcome });
    if (this.history.length > HISTORY) this.history.shift();
  }

  private states(): Map<FakePullRequest, FakePullRequest['state']> {
    const states = new Map<FakePullRequest, FakePullRequest['state']>();
    for (const repo of this.bitbucket.repositories) for (const pr of repo.pullRequests.values()) states.set(pr, pr.state);
    return states;
  }

  /** A pull request the app merged (auto-merge) during a delivery: Bitbucket tells the app, as it tells it of anyone's merge. */
  private closedByTheApp(before: Map<FakePullRequest, FakePullRequest['state']>): void {
    for (const repo of this.bitbucket.repositories) {
      for (const pr of repo.pullRequests.values()) {
        if (before.get(pr) !== 'OPEN' || pr.state === 'OPEN') continue;
        if (pr.state === 'MERGED') this.outbox.push(pullRequestEvent('avi:bitbucket:fulfilled:pullrequest', repo, pr, { type: 'app' }));
        if (pr.state === 'DECLINED') this.outbox.push(pullRequestEvent('avi:bitbucket:rejected:pullrequest', repo, pr, { type: 'app' }));
      }
    }
  }
}

function describe(event: unknown): string {
  const e = event as { eventType?: string; queueName?: string; eventId?: string };
  return e.eventType ? `the event ${e.eventType}` : `the queued event ${e.eventId} of ${e.queueName}`;
}
