import * as z from 'zod/mini';
import { BitbucketUuid, gateDeployments, RequestError } from '../core';
import { workspaceOfInstallation } from './requests';
import { toFailure } from './result';

/** Which of a repository's deployment environments have a Countersign policy. */
export interface GatedEnvironments {
  environmentsWithPolicy(workspace: string, repository: string): Promise<{ uuid: string; name: string }[]>;
}

export interface DynamicPipelinesDeps {
  environments: GatedEnvironments;
  /** The deployment gate web trigger's URL (`countersign-deployment-gate`). */
  gateUrl(): Promise<string>;
}

/** What Bitbucket takes back: the configuration to run, or an error that fails the pipeline with its message. */
export type ProviderAnswer = { pipelines_configuration: unknown } | { error: { key: string; message: string } };

const ProviderRequest = z.looseObject({
  workspace: BitbucketUuid,
  repository: BitbucketUuid,
  trigger: z.optional(z.string()),
  pipelines_configuration: z.optional(z.unknown()),
});

const InvocationContext = z.looseObject({ installContext: z.string() });

/**
 * Bitbucket Pipelines asks for the configuration of a pipeline (or the list a user may run): every
 * deployment step for an environment with a policy gets the gate in front. The workspace is the
 * installation's, whatever the payload says; anything that goes wrong fails the pipeline, with a reason.
 */
export async function provideDynamicPipeline(deps: DynamicPipelinesDeps, event: unknown, context: unknown): Promise<ProviderAnswer> {
  try {
    const installation = InvocationContext.safeParse(context);
    const workspace = installation.success ? workspaceOfInstallation(installation.data.installContext) : undefined;
    if (!workspace) throw new RequestError('NOT_AUTHENTICATED', 'Countersign is not installed in a Bitbucket workspace it recognises; reinstall the app.');
    const request = ProviderRequest.safeParse(event);
    if (!request.success) throw new RequestError('INVALID_INPUT', 'Bitbucket asked for a pipeline in a form Countersign does not understand, so the pipeline is not run.');
    if (request.data.workspace !== workspace) throw new RequestError('FORBIDDEN', 'This pipeline belongs to another workspace than the one Countersign is installed in.');
    const { repository, pipelines_configuration: configuration } = request.data;
    const url = deps.gateUrl();
    url.catch(() => undefined); // only awaited when an environment is gated
    const environments = await deps.environments.environmentsWithPolicy(workspace, repository);
    if (environments.length === 0) return { pipelines_configuration: configuration };
    return { pipelines_configuration: gateDeployments(configuration, environments, await url) };
  } catch (error) {
    const { code, message } = toFailure(error);
    return { error: { key: `countersign.${code.toLowerCase().replaceAll('_', '-')}`, message: `Countersign: ${message}` } };
  }
}
