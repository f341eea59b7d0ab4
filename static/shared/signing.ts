import { IN_TOTO_PAYLOAD_TYPE, signEnvelopeEcdsa, type Envelope } from '../../src/core/dsse';
import { buildStatement, statementPayload, type Decision, type DecisionStatement } from '../../src/core/statement';
import { buildDeploymentStatement, deploymentStatementPayload, type DeploymentStatement } from '../../src/core/deploymentStatement';
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

/**
 * Signs exactly what the server will check: an in-toto statement about the head commit, serialised
 * once, in a DSSE envelope signed with this device's key (DER signature, as DSSE tools expect).
 */
export async function signDecision(key: DeviceKey, scope: SigningScope, decision: Decision, now: Date): Promise<{ envelope: Envelope; statement: DecisionStatement }> {
  const { workspace, repository, pullRequest, commit, targetBranch, policy, signer, challenge } = scope;
  const statement = buildStatement({
    subject: { kind: 'pull-request', workspace, repository, pullRequest, commit, targetBranch },
    decision,
    policy,
    signer,
    keyId: key.keyId,
    issuedAt: now.toISOString(),
    challenge,
  });
  const envelope = await signEnvelopeEcdsa(key.privateKey, key.keyId, IN_TOTO_PAYLOAD_TYPE, statementPayload(statement));
  return { envelope, statement };
}

export interface DeploymentSigningScope {
  workspace: string;
  repository: string;
  environment: string;
  commit: string;
  policy: string;
  signer: string;
  challenge: string;
}

/** As `signDecision`, for a deployment: an in-toto statement about the commit to deploy and the environment it may reach. */
export async function signDeploymentDecision(key: DeviceKey, scope: DeploymentSigningScope, decision: Decision, now: Date): Promise<{ envelope: Envelope; statement: DeploymentStatement }> {
  const { workspace, repository, environment, commit, policy, signer, challenge } = scope;
  const statement = buildDeploymentStatement({
    subject: { kind: 'deployment', workspace, repository, environment, commit },
    decision,
    policy,
    signer,
    keyId: key.keyId,
    issuedAt: now.toISOString(),
    challenge,
  });
  const envelope = await signEnvelopeEcdsa(key.privateKey, key.keyId, IN_TOTO_PAYLOAD_TYPE, deploymentStatementPayload(statement));
  return { envelope, statement };
}
