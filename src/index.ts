import Resolver from '@forge/resolver';
import { checkMerge } from './handlers/mergeCheck';
import { resolverFunctions } from './handlers/resolvers';
import { productionDeps } from './handlers/wiring';

const deps = productionDeps();

const resolver = new Resolver();
for (const [name, fn] of Object.entries(resolverFunctions(deps))) {
  resolver.define(name, (req) => fn({ payload: req.payload, context: req.context }));
}

/** `resolver` in manifest.yml: the Custom UI apps' backend. */
export const handler = resolver.getDefinitions();

/** `merge-check` in manifest.yml. */
export const mergeCheck = (event: unknown) => checkMerge(deps, event);
