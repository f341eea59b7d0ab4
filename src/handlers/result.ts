import { isCountersignError, type ErrorCode } from '../core';

/**
 * The one place errors are turned into answers: a bridge `Result` for the Custom UI apps and a message
 * for Bitbucket's merge check; the web triggers' HTTP answers are made from `toFailure` in
 * deploymentGate.ts. Countersign's own errors keep their code and sentence; anything else is logged
 * and becomes INTERNAL, never a stack trace.
 */
export type Result<T> = { ok: true; data: T } | { ok: false; code: ErrorCode; message: string };
export type Failure = Extract<Result<never>, { ok: false }>;

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

export function toFailure(error: unknown): Failure {
  if (isCountersignError(error)) return { ok: false, code: error.code, message: error.message };
  console.error('Countersign: unexpected error', error);
  return { ok: false, code: 'INTERNAL', message: 'Something went wrong in Countersign; try again, and tell your admin if it keeps happening.' };
}

/** The merge check's answer when it could not judge: blocked, saying why. */
export function blockedMerge(error: unknown): { success: false; message: string } {
  return { success: false, message: `Countersign could not verify approvals, so merging is blocked: ${toFailure(error).message}` };
}
