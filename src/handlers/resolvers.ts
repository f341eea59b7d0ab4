import type { Deps } from '../ports';
import { submitDecision } from './decision';
import { enrollKey, revokeKey } from './keys';
import { getPanelState } from './panel';
import { toResult, type Result } from './result';
import { getSettings, saveSettings } from './settings';

export interface ResolverRequest {
  payload?: unknown;
  context: unknown;
}

/** Resolver functions by name, each returning a `Result` envelope. */
export function resolverFunctions(deps: Deps): Record<string, (req: ResolverRequest) => Promise<Result<unknown>>> {
  return {
    getPanelState: (req) => toResult(() => getPanelState(deps, req.context)),
    enrollKey: (req) => toResult(() => enrollKey(deps, req.payload, req.context)),
    revokeKey: (req) => toResult(() => revokeKey(deps, req.payload, req.context)),
    submitDecision: (req) => toResult(() => submitDecision(deps, req.payload, req.context)),
    getSettings: (req) => toResult(() => getSettings(deps, req.context)),
    saveSettings: (req) => toResult(() => saveSettings(deps, req.payload, req.context)),
  };
}
