import * as z from 'zod/mini';
import { AccountId, BitbucketUuid, describeIssues, RequestError } from '../core';

/** An id that may arrive as a number or as its decimal text. */
export const PositiveIdFromText = z.pipe(z.coerce.number(), z.int().check(z.positive()));

/**
 * Forge authenticates `accountId` and `installContext` (`ari:cloud:bitbucket::workspace/<uuid>`);
 * `workspaceId` and `extension.*` come from the browser. The workspace is taken from the installation;
 * the repository and pull request are only a request, which handlers check as the user.
 */
const ResolverContext = z.object({
  accountId: AccountId,
  installContext: z.string(),
  workspaceId: z.optional(z.string()),
  extension: z.looseObject({
    repository: z.looseObject({ uuid: BitbucketUuid }),
    pullRequest: z.optional(z.looseObject({ id: PositiveIdFromText })),
  }),
});

const INSTALL_CONTEXT = /^ari:cloud:bitbucket::workspace\/\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/;

/** The workspace this installation belongs to, as a braced Bitbucket UUID. */
export function workspaceOfInstallation(installContext: string): string | undefined {
  const match = INSTALL_CONTEXT.exec(installContext);
  return match ? `{${match[1]}}` : undefined;
}

const InvocationContext = z.looseObject({ installContext: z.string() });

/**
 * The workspace of a call Forge makes on the platform's behalf (a web trigger, the dynamic pipelines
 * provider): the installation's, from the invocation context. An installation Countersign does not
 * recognise is its own problem, not the caller's, so it is INTERNAL (a web trigger answers 503).
 */
export function installedWorkspace(context: unknown): string {
  const parsed = InvocationContext.safeParse(context);
  const workspace = parsed.success ? workspaceOfInstallation(parsed.data.installContext) : undefined;
  if (!workspace) throw new RequestError('INTERNAL', 'Countersign is not installed in a Bitbucket workspace it recognises; reinstall the app.');
  return workspace;
}

export interface Caller {
  accountId: string;
  workspace: string;
  repository: string;
  pullRequest?: number;
}

export function callerOf(context: unknown): Caller {
  const parsed = ResolverContext.safeParse(context);
  if (!parsed.success) {
    throw new RequestError('NOT_AUTHENTICATED', 'Countersign could not tell who you are or which repository this is; reload the page.');
  }
  const { accountId, installContext, workspaceId, extension } = parsed.data;
  const workspace = workspaceOfInstallation(installContext);
  if (!workspace) {
    throw new RequestError('NOT_AUTHENTICATED', 'Countersign is not installed in a Bitbucket workspace it recognises; reinstall the app.');
  }
  if (workspaceId !== undefined && workspaceId !== workspace) {
    throw new RequestError('FORBIDDEN', 'This page belongs to another workspace than the one Countersign is installed in.');
  }
  return { accountId, workspace, repository: extension.repository.uuid, pullRequest: extension.pullRequest?.id };
}

export function pullRequestOf(caller: Caller): number {
  if (caller.pullRequest === undefined) {
    throw new RequestError('INVALID_INPUT', 'This action only works on a pull request page.');
  }
  return caller.pullRequest;
}

/** Validates a resolver payload; any mismatch is INVALID_INPUT naming the first problems. */
export function parsePayload<T>(schema: z.core.$ZodType<T>, payload: unknown): T {
  const parsed = z.safeParse(schema, payload);
  if (!parsed.success) throw new RequestError('INVALID_INPUT', `The request is not valid: ${describeIssues(parsed.error)}.`);
  return parsed.data;
}
