import { randomUUID } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { bareUuid, DEPLOYMENT_GATE_AUDIENCE } from '../src/core';
import { deploymentGate, dynamicPipelines } from '../src/index';
import { mergeCommitOf, type FakeDeployment, type FakeEnvironment, type FakeRepository } from '../dev/fakeBitbucket';
import type { ForgeHost } from '../dev/forgeHost';
import type { Delivery, EventPump, ProductEvent } from './events';
import { deploymentEvent } from './events';

/** The ref a deploy step runs for: the branch `main`, or a tag (made at main's head when it does not exist yet). */
export type DeployRef = { type: 'branch'; name: string } | { type: 'tag'; name: string };

export interface DeployStepRequest {
  environment: string;
  ref: DeployRef;
  /** False simulates a pipeline that skips Countersign: the step deploys without asking the gate. */
  gate: boolean;
}

/** The gate's answer as the step's log would show it: the HTTP status and the JSON body. */
export interface GateAnswer {
  status: number;
  body: { allowed?: boolean; code?: string; message?: string; missing?: string[]; approvedBy?: { accountId: string; name: string | null }[] };
}

export interface DeployStepResult {
  environment: { uuid: string; name: string };
  ref: DeployRef;
  commit: string;
  pipeline: { uuid: string; buildNumber: number };
  /** Null when the step skipped the gate. */
  gate: GateAnswer | null;
  deployed: boolean;
  /** What the `deployment-events` trigger answered for each event the step caused, in order. */
  events: { eventType: string; outcome: unknown }[];
}

/** Where each environment stands: the last deployment that completed successfully, and who started its pipeline. */
export interface EnvironmentView {
  environment: FakeEnvironment;
  deployed?: { commit: string; by?: string; ref?: DeployRef };
}

/** The provider's answer for the demo configuration: the YAML Pipelines would run, or the reason it refuses. */
export type ProvidedPipeline = { source: string } & ({ yaml: string } | { error: { key: string; message: string } });

const TAG = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,99}$/;

export class PipelinesError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The local host's stand-in for Bitbucket Pipelines: runs a deployment step as Pipelines would (a
 * pipeline run by the acting user, a step OIDC token from the workspace's issuer, the gate as the step's
 * first command, then the step's deployment events) against the real `deploymentGate` web trigger and
 * `deployment-events` trigger, and asks the real dynamic pipelines provider to rewrite the demo's
 * configuration.
 */
export class PipelinesStandIn {
  constructor(
    private readonly forge: ForgeHost,
    private readonly events: EventPump,
    private readonly demoConfiguration: string,
  ) {}

  /**
   * The commit a branch is at: where the last merge into it left it, else the commit it was seeded with.
   * A state file written before the host kept heads has neither: a pull request merged into it stands in.
   */
  branchHead(repo: FakeRepository, branch: string): string {
    const merged = [...repo.pullRequests.values()].filter((pr) => pr.state === 'MERGED' && pr.targetBranch === branch).at(-1);
    const head = repo.heads?.[branch] ?? (merged && mergeCommitOf(repo, merged));
    if (!head) throw new PipelinesError(409, `The branch ${branch} has no commit the local host knows of; merge a pull request into it first.`);
    return head;
  }

  environments(repo: FakeRepository): EnvironmentView[] {
    return (repo.environments ?? []).map((environment) => {
      const last = (repo.deployments ?? []).filter((d) => d.environment === environment.uuid && d.status === 'SUCCESSFUL').at(-1);
      if (!last) return { environment };
      const pipeline = repo.pipelines?.find((p) => p.uuid === last.pipeline);
      return { environment, deployed: { commit: last.commit, ...(pipeline?.creator ? { by: pipeline.creator } : {}), ...(pipeline?.ref ? { ref: pipeline.ref } : {}) } };
    });
  }

  /**
   * One deployment step, as Pipelines runs it with the gate as its first command: pending, then started;
   * the gate is asked with the step's token; a 200 lets the step deploy (completed SUCCESSFUL), anything
   * else fails it (completed FAILED). Resolves once the triggers have had every event.
   */
  async runDeployStep(repo: FakeRepository, actor: string, request: DeployStepRequest): Promise<DeployStepResult> {
    const environment = repo.environments?.find((e) => e.uuid === request.environment);
    if (!environment) throw new PipelinesError(404, `The repository has no deployment environment ${request.environment}.`);
    const { ref, commit } = this.resolveRef(repo, request.ref);
    const pipeline = this.forge.bitbucket.seedPipeline(repo, { commit, ref, creator: actor });
    const deployment: FakeDeployment = { uuid: `{${randomUUID()}}`, environment: environment.uuid, pipeline: pipeline.uuid, commit, state: 'PENDING' };
    (repo.deployments ??= []).push(deployment);
    const emitted: ProductEvent[] = [];
    const report = (state: FakeDeployment['state'], status?: FakeDeployment['status']) => {
      deployment.state = state;
      if (status) deployment.status = status;
      const event = deploymentEvent(repo, { ...deployment }, environment, { type: 'user', accountId: actor });
      emitted.push(event);
      this.events.emit(event);
    };
    report('PENDING');
    report('IN_PROGRESS');
    const gate = request.gate ? await this.askGate(repo, pipeline.uuid, environment.uuid, commit) : null;
    const deployed = gate === null || gate.status === 200;
    report('COMPLETED', deployed ? 'SUCCESSFUL' : 'FAILED');
    await this.events.idle();
    return {
      environment: { uuid: environment.uuid, name: environment.name },
      ref,
      commit,
      pipeline: { uuid: pipeline.uuid, buildNumber: pipeline.buildNumber },
      gate,
      deployed,
      events: emitted.map((event) => ({ eventType: event.eventType, outcome: outcomeOf(this.events.history, event) })),
    };
  }

  /** The gate call the step's first command makes, handed to the web trigger exactly as Forge hands it a request. */
  private async askGate(repo: FakeRepository, pipeline: string, environment: string, commit: string): Promise<GateAnswer> {
    const token = await this.forge.bitbucket.mintStepToken(repo, { pipeline, environment, audience: DEPLOYMENT_GATE_AUDIENCE });
    const response = await deploymentGate(
      {
        method: 'POST',
        headers: { Authorization: [`Bearer ${token}`], 'Content-Type': ['application/json'] },
        body: JSON.stringify({ commit }),
        path: '/',
        queryParameters: {},
      },
      { installContext: installContextOf(repo) },
    );
    return { status: response.statusCode, body: JSON.parse(response.body) as GateAnswer['body'] };
  }

  private resolveRef(repo: FakeRepository, ref: DeployRef): { ref: DeployRef; commit: string } {
    const name = typeof ref?.name === 'string' ? ref.name.trim() : '';
    if (ref?.type === 'branch') {
      if (name !== 'main') throw new PipelinesError(400, 'The local host deploys the branch main, or a tag.');
      return { ref: { type: 'branch', name }, commit: this.branchHead(repo, name) };
    }
    if (ref?.type !== 'tag' || !TAG.test(name) || name.includes('..')) throw new PipelinesError(400, 'Name the tag to deploy, like v1.0.0 (letters, digits, ".", "_", "-" and "/").');
    const tag = repo.tags?.find((t) => t.name === name) ?? this.forge.bitbucket.addTag(repo, name, this.branchHead(repo, 'main'));
    return { ref: { type: 'tag', name }, commit: tag.commit };
  }

  /** Asks the real provider for the demo configuration, as Bitbucket asks it before a pipeline runs. */
  async providedPipeline(repo: FakeRepository): Promise<ProvidedPipeline> {
    const request = { workspace: repo.workspace.uuid, repository: repo.uuid, trigger: 'push', pipelines_configuration: parse(this.demoConfiguration) as unknown };
    const answer = await dynamicPipelines(request, { installContext: installContextOf(repo) });
    if ('error' in answer) return { source: this.demoConfiguration, error: answer.error };
    return { source: this.demoConfiguration, yaml: stringify(answer.pipelines_configuration, { lineWidth: 0, aliasDuplicateObjects: false }) };
  }
}

function installContextOf(repo: FakeRepository): string {
  return `ari:cloud:bitbucket::workspace/${bareUuid(repo.workspace.uuid)}`;
}

function outcomeOf(history: Delivery[], event: ProductEvent): unknown {
  return history.find((d) => d.event === event)?.outcome;
}
