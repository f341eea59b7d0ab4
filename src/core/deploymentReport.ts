import { environmentPolicyFor } from './environmentPolicy';
import type { Policy } from './policy';

/** A deployment step's progress as Bitbucket reports it (`avi:bitbucket:{pending,started,completed}:deployment`). */
export type DeploymentReportState = 'pending' | 'started' | 'completed';

/** How a completed step that the gate never let through could still have ended without deploying anything. */
const NOTHING_DEPLOYED = new Set(['FAILED', 'STOPPED']);

/**
 * Whether a reported deployment is one that ran without Countersign's approval: its environment has a
 * policy, the gate never said yes to this pipeline for this commit
 * there (a yes to another pipeline of the same commit does not count: `allowed` is per pipeline), and the step completed as if it had deployed.
 * Only `completed` can be judged: the gate runs as the first command of the deployment step itself
 * (only that step's OIDC token names the environment), so `started` always comes before its answer.
 * A step that failed or was stopped is what a refusing or still-waiting gate leaves; any other outcome,
 * or none, counts as deployed.
 */
export function deploymentFlagged(args: { policy: Policy | undefined; environment: string; state: DeploymentReportState; outcome?: string | undefined; allowed: boolean }): boolean {
  if (args.allowed || args.state !== 'completed') return false;
  if (!environmentPolicyFor(args.policy?.environments, args.environment)) return false;
  return !NOTHING_DEPLOYED.has((args.outcome ?? '').toUpperCase());
}
