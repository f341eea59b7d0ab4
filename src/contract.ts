import type { DraftValidation, EnvironmentPolicyInput, KeyRecord, Policy, PublicJwk, RuleInput, SubmittedDecision, SubmittedDeploymentDecision, Verdict, AppPublicJwk, DeploymentVerdict } from './core';
import type { DeploymentsPage } from './handlers/deployments';
import type { AuditPage } from './handlers/audit';
import type { ExportPage } from './handlers/exports';
import type { PanelState } from './handlers/panel';
import type { SettingsState } from './handlers/settings';

/**
 * The bridge between the Custom UI apps and the resolvers: each function's payload and answer. The
 * resolvers are typed against it (src/handlers/resolvers.ts) and so are the apps' calls
 * (static/shared/bridge.ts): a change on one side that the other does not follow fails to compile.
 */
export interface Contract {
  getPanelState: { payload: void; answer: PanelState };
  enrollKey: { payload: { publicKey: PublicJwk; label: string }; answer: { key: KeyRecord } };
  renameKey: { payload: { keyId: string; label: string }; answer: { key: KeyRecord } };
  revokeKey: { payload: { accountId?: string; keyId: string }; answer: { keyId: string; repository: string | null } };
  submitDecision: { payload: SubmittedDecision; answer: { verdict: Verdict } };
  getSettings: { payload: void; answer: SettingsState };
  saveSettings: { payload: { baseVersion: number; rules: RuleInput[]; environments?: EnvironmentPolicyInput[] }; answer: { policy: Policy } };
  checkPolicy: { payload: { rules: RuleInput[]; environments?: EnvironmentPolicyInput[] }; answer: DraftValidation };
  getLedgerKey: { payload: void; answer: { keyId: string; publicJwk: AppPublicJwk } };
  exportEvidence: {
    payload: { format: 'bundle' | 'sigstore' | 'vsa' | 'csv'; pullRequest?: number; from?: string; to?: string; cursor?: string };
    answer: ExportPage;
  };
  getAuditPage: { payload: { cursor?: string; pullRequest?: number; person?: string; type?: string; from?: string; to?: string }; answer: AuditPage };
  getDeployments: { payload: void; answer: DeploymentsPage };
  submitDeploymentDecision: { payload: SubmittedDeploymentDecision; answer: { verdict: DeploymentVerdict } };
}

export type FunctionName = keyof Contract;
export type Payload<K extends FunctionName> = Contract[K]['payload'];
export type Answer<K extends FunctionName> = Contract[K]['answer'];
