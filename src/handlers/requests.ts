import * as z from 'zod/mini';
import { AccountId, BitbucketUuid, describeIssues, RequestError } from '../core';

/** An id that may arrive as a number or as its decimal text. */
export const PositiveIdFromText = z.pipe(z.coerce.number(), z.int().check(z.positive()));

/**
 * Who is calling and where, taken only from the context Forge authenticated: the account from
 * `context.accountId`, the repository and pull request from the module's extension context.
 */
const ResolverContext = z.object({
  accountId: AccountId,
  workspaceId: BitbucketUuid,
  extension: z.looseObject({
    repository: z.looseObject({ uuid: BitbucketUuid }),
    pullRequest: z.optional(z.looseObject({ id: PositiveIdFromText })),
  }),
});

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
  const { accountId, workspaceId, extension } = parsed.data;
  return { accountId, workspace: workspaceId, repository: extension.repository.uuid, pullRequest: extension.pullRequest?.id };
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
