import { PipelineRefusal, RequestError } from './errors';
import { DEPLOYMENT_GATE_AUDIENCE } from './pipelinesToken';

/**
 * The dynamic pipelines provider's rewrite: every step that deploys to an environment Countersign
 * gates runs the gate first. Bitbucket hands the provider the configuration as JSON (the YAML already
 * parsed, anchors and imports resolved); this works on that shape and returns a new one.
 *
 * A gated deployment step gets OIDC on with Countersign's audience added to what it had (`oidc: true`
 * or no `oidc` means Bitbucket's default audience for the workspace, which is kept, so the step's other
 * OIDC trusts, such as AWS or GCP roles, still accept its token) and the gate command as the first
 * command of its `script`. A configuration that would let such a step run without passing the gate
 * first is refused instead:
 * - `oidc: false`, or `audiences` that are not a list: the step's token would not be for the gate;
 * - no `script`: there is nothing to run the gate in front of;
 * - an `after-script`: it runs even when the gate fails, with the environment's deployment variables;
 * - a deployment to a gated environment inside something this does not know how to rewrite.
 */

/** A deployment environment with a Countersign policy (Bitbucket's UUID and its name). */
export interface GatedEnvironment {
  uuid: string;
  name: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Where the gate is and whose pipelines these are (the installation's workspace UUID, in braces). */
export interface GateTarget {
  gateUrl: string;
  workspace: string;
}

/**
 * The audience Bitbucket puts in a step's token when the step names none (`oidc: true`):
 * `ari:cloud:bitbucket::workspace/{workspace UUID without braces}`.
 */
export function bitbucketDefaultAudience(workspace: string): string {
  return `ari:cloud:bitbucket::workspace/${workspace.replace(/[{}]/g, '')}`;
}

/** The prefix of the gate command; `:` is the shell's no-op, so it only names the command in the log. */
export const GATE_COMMAND_MARK = ': countersign-deployment-gate;';

/**
 * The command a gated step runs first: POST the step's commit to the gate with the step's token (given
 * to curl on stdin, so never in a process's arguments), print the answer, and fail unless it was 200.
 */
export function gateCommand(gateUrl: string): string {
  let url: URL;
  try {
    url = new URL(gateUrl);
  } catch {
    throw new RequestError('INTERNAL', 'The deployment gate URL is not a URL; reinstall Countersign.');
  }
  // The URL is pasted into a single-quoted shell word: it must be https and hold no quote.
  if (url.protocol !== 'https:' || gateUrl.includes("'") || /\s/.test(gateUrl)) {
    throw new RequestError('INTERNAL', 'The deployment gate URL is not an https URL Countersign can put in a pipeline; reinstall Countersign.');
  }
  return [
    GATE_COMMAND_MARK,
    `code=$(printf 'header = "Authorization: Bearer %s"\\n' "$BITBUCKET_STEP_OIDC_TOKEN"`,
    `| curl --silent --show-error --config - --connect-timeout 10 --max-time 60`,
    `--output "\${TMPDIR:-/tmp}/countersign-gate.json" --write-out '%{http_code}'`,
    `--header 'Content-Type: application/json' --data "{\\"commit\\":\\"$BITBUCKET_COMMIT\\"}" '${gateUrl}');`,
    `cat "\${TMPDIR:-/tmp}/countersign-gate.json" 2>/dev/null; echo;`,
    `test "$code" = 200 || { echo "Countersign: this deployment is not allowed (HTTP $code)."; exit 1; }`,
  ].join(' ');
}

/**
 * Returns `configuration` with the gate inserted in front of every deployment to a gated environment.
 * Running it on its own output changes nothing. Throws PipelineRefusal (with the step named) for a
 * configuration that would bypass the gate; non-gated environments are left exactly as they were.
 */
export function gateDeployments(configuration: unknown, environments: GatedEnvironment[], target: GateTarget): unknown {
  if (environments.length === 0 || configuration === undefined || configuration === null) return configuration;
  if (!isObject(configuration)) throw unreadable('the configuration is not an object');
  const gate = { command: gateCommand(target.gateUrl), isGated: gatedMatcher(environments), defaultAudience: bitbucketDefaultAudience(target.workspace) };
  // A copy, changed in place: YAML anchors can make one step appear in several places, and a copy
  // keeps them shared, so a shared step is rewritten once (the second visit finds the gate already there).
  const copy = structuredClone(configuration as JsonObject);
  const pipelines = copy.pipelines;
  if (pipelines !== undefined) {
    if (!isObject(pipelines)) throw unreadable('`pipelines` is not a map');
    for (const [section, value] of Object.entries(pipelines)) {
      if (section === 'default') rewritePipeline(value, gate, 'pipelines.default');
      else if (isObject(value)) for (const [name, pipeline] of Object.entries(value)) rewritePipeline(pipeline, gate, `pipelines.${section}.${name}`);
      else refuseIfDeploys(value, gate, `pipelines.${section}`);
    }
  }
  // Steps kept under `definitions` (as YAML anchors) are rewritten too, so that what they are copied into stays gated.
  const steps = isObject(copy.definitions) ? copy.definitions.steps : undefined;
  if (steps !== undefined) rewritePipeline(steps, gate, 'definitions.steps');
  return copy;
}

interface Gate {
  command: string;
  isGated: (environment: string) => boolean;
  /** Bitbucket's audience for a step that names none; kept beside Countersign's. */
  defaultAudience: string;
}

// Bitbucket matches environment names without regard to case; matching more loosely only gates more.
function gatedMatcher(environments: GatedEnvironment[]): (environment: string) => boolean {
  const names = new Set(environments.flatMap((e) => [e.name, e.uuid]).map(normalise));
  return (environment) => names.has(normalise(environment));
}

function normalise(name: string): string {
  return name.trim().toLowerCase();
}

function rewritePipeline(pipeline: Json, gate: Gate, where: string): void {
  if (!Array.isArray(pipeline)) return refuseIfDeploys(pipeline, gate, where);
  pipeline.forEach((item, index) => {
    const at = `${where}[${index}]`;
    if (!isObject(item)) return refuseIfDeploys(item, gate, at);
    if ('step' in item) return rewriteStep(item.step, undefined, gate, `${at}.step`);
    if ('parallel' in item) return rewriteParallel(item.parallel, gate, `${at}.parallel`);
    if ('stage' in item) return rewriteStage(item.stage, gate, `${at}.stage`);
    refuseIfDeploys(item, gate, at);
  });
}

function rewriteParallel(parallel: Json, gate: Gate, where: string): void {
  // Both forms Bitbucket reads: `parallel: [- step]` and `parallel: { steps: [- step] }`.
  const steps = Array.isArray(parallel) ? parallel : isObject(parallel) ? parallel.steps : undefined;
  if (!Array.isArray(steps)) return refuseIfDeploys(parallel, gate, where);
  steps.forEach((item, index) => {
    if (isObject(item) && 'step' in item) rewriteStep(item.step, undefined, gate, `${where}.steps[${index}].step`);
    else refuseIfDeploys(item, gate, `${where}.steps[${index}]`);
  });
}

function rewriteStage(stage: Json, gate: Gate, where: string): void {
  if (!isObject(stage) || !Array.isArray(stage.steps)) return refuseIfDeploys(stage, gate, where);
  const environment = deploymentOf(stage.deployment);
  stage.steps.forEach((item, index) => {
    if (isObject(item) && 'step' in item) rewriteStep(item.step, environment, gate, `${where}.steps[${index}].step`);
    else refuseIfDeploys(item, gate, `${where}.steps[${index}]`);
  });
}

/** A step deploys where it says, or where its stage does; each step of a gated stage runs the gate. */
function rewriteStep(step: Json, stageEnvironment: string | undefined, gate: Gate, where: string): void {
  if (!isObject(step)) return refuseIfDeploys(step, gate, where);
  const environment = [deploymentOf(step.deployment), stageEnvironment].find((e) => e !== undefined && gate.isGated(e));
  if (environment === undefined) return;
  const named = `The step at ${where} deploys to ${environment}, which Countersign gates`;
  step.oidc = gatedOidc(step.oidc, gate.defaultAudience, named);
  if (!Array.isArray(step.script) || step.script.length === 0) {
    throw new PipelineRefusal('GATE_NO_SCRIPT', `${named}, but it has no script for the gate to run in front of; give it a script.`);
  }
  if (step['after-script'] !== undefined && !(Array.isArray(step['after-script']) && step['after-script'].length === 0)) {
    throw new PipelineRefusal(
      'GATE_AFTER_SCRIPT',
      `${named}, and its after-script would run even when the gate refuses; move those commands into a step after the deployment.`,
    );
  }
  if (step.script[0] !== gate.command) step.script.unshift(gate.command);
}

/**
 * OIDC on, with Countersign's audience added to the step's: no `oidc`, `oidc: true` or a map without
 * audiences (an empty list too) means Bitbucket's default audience, which stays first; a list of
 * audiences keeps its own and gets Countersign's appended unless it already has it.
 */
function gatedOidc(oidc: Json | undefined, defaultAudience: string, named: string): Json {
  const audiences = [defaultAudience, DEPLOYMENT_GATE_AUDIENCE];
  if (oidc === undefined || oidc === true) return { audiences };
  if (oidc === false) {
    throw new PipelineRefusal('GATE_OIDC_OFF', `${named}, and it turns OIDC off, so the gate cannot tell which step is asking; remove \`oidc: false\`.`);
  }
  if (!isObject(oidc)) throw new PipelineRefusal('GATE_UNREADABLE', `${named}, and its \`oidc\` setting is neither true nor a map; write \`oidc: true\`.`);
  if (oidc.audiences === undefined || (Array.isArray(oidc.audiences) && oidc.audiences.length === 0)) return { ...oidc, audiences };
  if (!Array.isArray(oidc.audiences)) {
    throw new PipelineRefusal('GATE_AUDIENCE', `${named}, and its \`oidc: audiences\` is not a list; write the audiences as a list.`);
  }
  if (oidc.audiences.includes(DEPLOYMENT_GATE_AUDIENCE)) return oidc;
  return { ...oidc, audiences: [...oidc.audiences, DEPLOYMENT_GATE_AUDIENCE] };
}

function deploymentOf(value: Json | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** Something this does not know how to rewrite is left alone, unless a gated deployment is somewhere inside it. */
function refuseIfDeploys(value: Json | undefined, gate: Gate, where: string): void {
  const environment = gatedDeploymentIn(value, gate);
  if (environment !== undefined) {
    throw new PipelineRefusal('GATE_UNREADABLE', `${where} deploys to ${environment}, which Countersign gates, in a form Countersign cannot put its gate into; write it as a step, stage or parallel group.`);
  }
}

function gatedDeploymentIn(value: Json | undefined, gate: Gate): string | undefined {
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = gatedDeploymentIn(item, gate);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const own = deploymentOf(value.deployment);
  if (own !== undefined && gate.isGated(own)) return own;
  for (const child of Object.values(value)) {
    const found = gatedDeploymentIn(child, gate);
    if (found !== undefined) return found;
  }
  return undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unreadable(reason: string): PipelineRefusal {
  return new PipelineRefusal('GATE_UNREADABLE', `Countersign cannot read this pipeline configuration (${reason}), so it cannot check its deployments.`);
}
