import { isCountersignError, type ErrorCode } from '../core';

/** What resolvers return across the bridge: never a thrown error, never a stack trace. */
export type Result<T> = { ok: true; data: T } | { ok: false; code: ErrorCode; message: string };

export async function toResult<T>(run: () => Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, data: await run() };
  } catch (error) {
    if (isConsentRequest(error)) throw error;
    return toFailure(error);
  }
}

/**
 * The platform's request for the user's consent to act as them (`NeedsAuthenticationError` from
 * `@forge/api`, named `NEEDS_AUTHENTICATION_ERR`): Forge shows the prompt, so it is rethrown.
 */
function isConsentRequest(error: unknown): boolean {
  return error instanceof Error && error.name === 'NEEDS_AUTHENTICATION_ERR';
}

export function toFailure(error: unknown): { ok: false; code: ErrorCode; message: string } {
  if (isCountersignError(error)) return { ok: false, code: error.code, message: error.message };
  console.error('Countersign: unexpected error', error);
  return { ok: false, code: 'INTERNAL', message: 'Something went wrong in Countersign; try again, and tell your admin if it keeps happening.' };
}
