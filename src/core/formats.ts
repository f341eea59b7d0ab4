import * as z from 'zod/mini';

/** Bitbucket UUIDs as Bitbucket writes them: lower-case, in braces. */
export const BitbucketUuid = z
  .string()
  .check(z.regex(/^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$/, 'must be a Bitbucket UUID such as {1b2c…}'));

/** Atlassian account IDs: `557058:6b1a…` or 24 hex digits. */
export const AccountId = z.string().check(z.regex(/^[A-Za-z0-9:_-]{1,128}$/, 'must be an Atlassian account ID'));

export const FullCommitHash = z.string().check(z.regex(/^[0-9a-f]{40}$/, 'must be a full 40-hex commit hash'));

export const PullRequestId = z.int().check(z.positive(), z.maximum(2_147_483_647));

/** base64url without padding, of an exact byte length. */
export function base64urlOfBytes(bytes: number) {
  const length = Math.ceil((bytes * 4) / 3);
  return z.string().check(z.regex(new RegExp(`^[A-Za-z0-9_-]{${length}}$`), `must be ${bytes} bytes in base64url`));
}

export const KeyId = base64urlOfBytes(32);
export const ChallengeValue = base64urlOfBytes(32);
export const SignatureValue = base64urlOfBytes(64);

/** RFC 3339 in UTC with a `Z`, as `Date.prototype.toISOString` writes it. */
export const UtcTimestamp = z
  .string()
  .check(
    z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, 'must be an RFC 3339 UTC time'),
    z.refine((value) => !Number.isNaN(Date.parse(value)), 'must be a real date'),
  );

export const BranchName = z.string().check(z.minLength(1), z.maxLength(255));

/** True only while A and B are the same type: `const x: Same<z.infer<typeof S>, Shape> = true` compiles only while a schema reads exactly a hand-written shape. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
