import { encodeBase64url } from '../../src/core/crypto';
import { buildStatement, statementBytes, type Decision, type SignedStatement } from '../../src/core/statement';
import type { DeviceKey } from './deviceKeys';

export interface SigningScope {
  workspace: string;
  repository: string;
  pullRequest: number;
  commit: string;
  targetBranch: string;
  policy: string;
  signer: string;
  challenge: string;
}

/** Signs exactly what the server will check: the canonical statement, with this device's key. */
export async function signDecision(key: DeviceKey, scope: SigningScope, decision: Decision, now: Date): Promise<SignedStatement> {
  const statement = buildStatement({ ...scope, decision, keyId: key.keyId, issuedAt: now.toISOString() });
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, statementBytes(statement));
  return { statement, signature: encodeBase64url(new Uint8Array(signature)) };
}
