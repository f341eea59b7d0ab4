import { bareUuid } from '../core';

/** Every KVS key and entity name Countersign uses. KVS keys allow [a-zA-Z0-9:._\s-#], so UUID braces are stripped. */
export const DOCUMENT_ENTITY = 'versioned-document';
export const CHALLENGE_ENTITY = 'challenge';

export const storageKeys = {
  policy: (repository: string) => `policy:${bareUuid(repository)}`,
  /** Every saved version, kept for good: statements name the version they were made under. */
  policyVersion: (repository: string, version: number) => `policyversion:${bareUuid(repository)}:${version}`,
  approvals: (repository: string, pullRequest: number) => `approvals:${bareUuid(repository)}:${pullRequest}`,
  revocations: () => 'revocations',
  key: (accountId: string, keyId: string) => `key:${accountId}:${keyId}`,
  keysOf: (accountId?: string) => (accountId ? `key:${accountId}:` : 'key:'),
  keyOwner: (keyId: string) => `keyowner:${keyId}`,
  challenge: (value: string) => `challenge:${value}`,
};
