import * as z from 'zod/mini';
import { bareUuid, BitbucketUuid, deploymentFlagged, deploymentId, RequestError, type DeploymentReportState, type DeploymentSubject } from '../core';
import type { Deps } from '../ports';
import { toFailure } from './result';

const STATES = {
  'avi:bitbucket:pending:deployment': 'pending',
  'avi:bitbucket:started:deployment': 'started',
  'avi:bitbucket:completed:deployment': 'completed',
} as const satisfies Record<string, DeploymentReportState>;

/** What Forge sends for a deployment step (thin: no commit, no environment policy, no people). */
const DeploymentEvent = z.looseObject({
  eventType: z.enum(Object.keys(STATES) as [keyof typeof STATES, ...(keyof typeof STATES)[]]),
  workspace: z.looseObject({ uuid: BitbucketUuid }),
  repository: z.looseObject({ uuid: BitbucketUuid }),
  pipeline: z.looseObject({ uuid: BitbucketUuid }),
  deployment: z.looseObject({ uuid: BitbucketUuid, state: z.optional(z.string()), status: z.optional(z.string().check(z.maxLength(40))) }),
  environment: z.looseObject({ uuid: BitbucketUuid, name: z.optional(z.string()) }),
});

export type DeploymentEventOutcome =
  | { ignored: string }
  | { recorded: boolean; state: DeploymentReportState; commit: string; allowed: boolean; flagged: boolean }
  | { error: { code: string; message: string } };

/**
 * `avi:bitbucket:{pending,started,completed}:deployment`: records, once per deployment and state
 * however often Bitbucket delivers it, that the step reached that state, for which commit (read from the
 * pipeline, as the event does not carry it), whether the gate had allowed this very pipeline to
 * deploy that commit to that environment (a yes to another pipeline of the commit does not count), and whether that makes it a deployment that ran without Countersign's approval.
 */
export async function onDeploymentEvent(deps: Deps, event: unknown): Promise<DeploymentEventOutcome> {
  const parsed = DeploymentEvent.safeParse(event);
  if (!parsed.success) {
    const type = (event as { eventType?: unknown } | null)?.eventType;
    console.warn(`Countersign: a deployment event${typeof type === 'string' ? ` (${type.slice(0, 60)})` : ''} was not understood and is ignored.`);
    return { ignored: 'The deployment event was not understood.' };
  }
  const { eventType, workspace, repository, pipeline, deployment, environment } = parsed.data;
  const state = STATES[eventType];
  try {
    const commit = await deps.pipelines.getPipeline(workspace.uuid, repository.uuid, pipeline.uuid).then(
      (run) => run.commit,
      (error: unknown) => {
        if (error instanceof RequestError && error.code === 'NOT_FOUND') return undefined;
        throw error;
      },
    );
    if (!commit) {
      console.warn(`Countersign: Bitbucket knows no pipeline ${pipeline.uuid} for deployment ${deployment.uuid}; its ${state} event is ignored.`);
      return { ignored: `Pipeline ${pipeline.uuid} was not found.` };
    }
    const subject: DeploymentSubject = { kind: 'deployment', workspace: workspace.uuid, repository: repository.uuid, environment: environment.uuid, commit };
    const [policy, allowed] = await Promise.all([deps.gate.loadPolicy(repository.uuid), deps.deployments.wasAllowed(repository.uuid, deploymentId(subject), pipeline.uuid)]);
    const outcome = state === 'completed' ? deployment.status : undefined;
    const flagged = deploymentFlagged({ policy, environment: environment.uuid, state, outcome, allowed });
    const recorded = await deps.deployments.recordDeploymentReport(repository.uuid, `${bareUuid(deployment.uuid)}:${state}`, deps.now().toISOString(), {
      type: 'deployment.reported',
      subject,
      state,
      ...(outcome ? { outcome } : {}),
      pipeline: pipeline.uuid,
      deployment: deployment.uuid,
      allowed,
      flagged,
    });
    if (recorded && flagged) {
      console.warn(`Countersign: deployment ${deployment.uuid} of ${commit.slice(0, 7)} to ${environment.name ?? environment.uuid} ${state} without Countersign's approval; recorded as flagged.`);
    }
    return { recorded, state, commit, allowed, flagged };
  } catch (error) {
    const { code, message } = toFailure(error);
    console.warn(`Countersign: could not record the ${state} event of deployment ${deployment.uuid}: ${code} ${message}`);
    return { error: { code, message } };
  }
}
