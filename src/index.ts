import Resolver from '@forge/resolver';
import { gateDeployment, type WebTriggerRequest } from './handlers/deploymentGate';
import { provideDynamicPipeline } from './handlers/dynamicPipelines';
import { onDeploymentEvent } from './handlers/deploymentEvents';
import { checkMerge } from './handlers/mergeCheck';
import { consumeReevaluation, onPullRequestEvent, onPushEvent } from './handlers/reevaluate';
import { resolverFunctions } from './handlers/resolvers';
import { productionDeps } from './handlers/wiring';

const deps = productionDeps();

const resolver = new Resolver();
for (const [name, fn] of Object.entries(resolverFunctions(deps))) {
  resolver.define(name, (req) => fn({ payload: req.payload, context: req.context }));
}

/** `resolver` in manifest.yml: the Custom UI apps' backend. */
export const handler = resolver.getDefinitions();

/** `merge-check` in manifest.yml. */
export const mergeCheck = (event: unknown) => checkMerge(deps, event);

/** `pull-request-events` in manifest.yml: the pull-request triggers. */
export const pullRequestEvents = (event: unknown) => onPullRequestEvent(deps, event);

/** `push-events` in manifest.yml: `avi:bitbucket:push:repository`. */
export const pushEvents = (event: unknown) => onPushEvent(deps, event);

/** `deployment-events` in manifest.yml: `avi:bitbucket:{pending,started,completed}:deployment`. */
export const deploymentEvents = (event: unknown) => onDeploymentEvent(deps, event);

/** `reevaluate-consumer` in manifest.yml: one queued re-evaluation (an `@forge/events` AsyncEvent). */
export const reevaluateConsumer = (event: unknown) => consumeReevaluation(deps, event);

/** `dynamic-pipelines` in manifest.yml: the workspace's dynamic pipelines provider, gating deployment steps. */
export const dynamicPipelines = (event: unknown, context: unknown) => provideDynamicPipeline(deps, event, context);

/** `deployment-gate` in manifest.yml: the `countersign-deployment-gate` web trigger a Pipelines deployment step calls. */
export const deploymentGate = (request: WebTriggerRequest, context: unknown) => gateDeployment(deps, request, context);
