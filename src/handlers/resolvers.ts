import type { Answer, FunctionName } from '../contract';
import type { Deps } from '../ports';
import { getAuditPage } from './audit';
import { submitDecision } from './decision';
import { getDeployments, submitDeploymentDecision } from './deployments';
import { exportEvidence } from './exports';
import { enrollKey, renameKey, revokeKey } from './keys';
import { getPanelState } from './panel';
import { toResult, type Result } from './result';
import { checkPolicy, getSettings, saveSettings } from './settings';

export interface ResolverRequest {
  /** Untrusted: every handler validates what it uses. */
  payload?: unknown;
  context: unknown;
}

export type Resolvers = { [K in FunctionName]: (req: ResolverRequest) => Promise<Result<Answer<K>>> };

/** Resolver functions by name, each answering in the shape `Contract` promises, inside a `Result`. */
export function resolverFunctions(deps: Deps): Resolvers {
  return {
    getPanelState: (req) => toResult(() => getPanelState(deps, req.context)),
    enrollKey: (req) => toResult(() => enrollKey(deps, req.payload, req.context)),
    renameKey: (req) => toResult(() => renameKey(deps, req.payload, req.context)),
    revokeKey: (req) => toResult(() => revokeKey(deps, req.payload, req.context)),
    submitDecision: (req) => toResult(() => submitDecision(deps, req.payload, req.context)),
    getSettings: (req) => toResult(() => getSettings(deps, req.context)),
    saveSettings: (req) => toResult(() => saveSettings(deps, req.payload, req.context)),
    checkPolicy: (req) => toResult(() => checkPolicy(req.payload, req.context)),
    getLedgerKey: () => toResult(() => deps.ledger.appPublicKey()),
    exportEvidence: (req) => toResult(() => exportEvidence(deps, req.payload, req.context)),
    getAuditPage: (req) => toResult(() => getAuditPage(deps, req.payload, req.context)),
    getDeployments: (req) => toResult(() => getDeployments(deps, req.context)),
    submitDeploymentDecision: (req) => toResult(() => submitDeploymentDecision(deps, req.payload, req.context)),
  };
}
