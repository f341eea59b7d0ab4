import * as z from 'zod/mini';
import { BitbucketUuid, gateDeployments, RequestError, type GatedEnvironment } from '../core';
import type { Deps } from '../ports';
import { installedWorkspace } from './requests';
import { toFailure } from './result';

/** What Bitbucket takes back: the configuration to run, or an error that fails the pipeline with its message. */
export type ProviderAnswer = { pipelines_configuration: unknown } | { error: { key: string; message: string } };

const ProviderRequest = z.looseObject({
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  trigger: z.optional(z.string()),
  pipelines_configuration: z.optional(z.unknown()),
});

/**
 * Bitbucket Pipelines asks for the configuration of a pipeline (or the list a user may run): every
 * deployment step for an environment with a policy gets the gate in front. The workspace is the
 * installation's, whatever the payload says; anything that goes wrong fails the pipeline, with a reason.
 */
export async function provideDynamicPipeline(deps: Deps, event: unknown, context: unknown): Promise<ProviderAnswer> {
  try {
    const workspace = installedWorkspace(context);
    const request = ProviderRequest.safeParse(event);
    if (!request.success) throw new RequestError('INVALID_INPUT', 'Bitbucket asked for a pipeline in a form Countersign does not understand, so the pipeline is not run.');
    if (request.data.workspace !== workspace) throw new RequestError('FORBIDDEN', 'This pipeline belongs to another workspace than the one Countersign is installed in.');
    const { repository, pipelines_configuration: configuration } = request.data;
    const url = deps.gateUrl();
    url.catch(() => undefined); // only awaited when an environment is gated
    const environments = await gatedEnvironments(deps, workspace, repository);
    if (environments.length === 0) return { pipelines_configuration: configuration };
    return { pipelines_configuration: gateDeployments(configuration, environments, { gateUrl: await url, workspace }) };
  } catch (error) {
    const { code, message } = toFailure(error);
    return { error: { key: `countersign.${code.toLowerCase().replaceAll('_', '-')}`, message: `Countersign: ${message}` } };
  }
}

/**
 * The repository's environments that have a policy, by their current Bitbucket names: the policy keeps
 * each environment's UUID (and the name it had when the policy was saved), while a pipeline's YAML names
 * environments as they are called now. Read as the app; if Bitbucket cannot list them, the pipeline
 * fails rather than running ungated. An environment the list lacks keeps its saved name (gating more
 * only gates more: the gate itself judges by UUID).
 */
async function gatedEnvironments(deps: Deps, workspace: string, repository: string): Promise<GatedEnvironment[]> {
  const policy = (await deps.gate.loadPolicy(repository))?.environments ?? [];
  if (policy.length === 0) return [];
  let current: { uuid: string; name: string }[];
  try {
    current = await deps.bitbucket.listEnvironments(workspace, repository, 'app');
  } catch (error) {
    toFailure(error); // logs anything that is not Countersign's own error
    throw new RequestError('BITBUCKET_ERROR', "Countersign could not read this repository's deployment environments from Bitbucket, so it cannot tell which steps to gate; run the pipeline again.");
  }
  const names = new Map(current.map((e) => [e.uuid.toLowerCase(), e.name]));
  return policy.map((e) => ({ uuid: e.environment, name: names.get(e.environment.toLowerCase()) ?? e.name }));
}
