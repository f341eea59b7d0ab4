import { randomToken } from '../core';
import { BitbucketRest } from '../adapters/bitbucketRest';
import { KvsStore } from '../adapters/kvsStore';
import type { Deps } from '../ports';
import { boundedVerifiedCache } from './verifiedCache';

/** The one place where the real adapters are put together. */
export function productionDeps(): Deps {
  const store = new KvsStore();
  return {
    gate: store,
    keys: store,
    challenges: store,
    bitbucket: new BitbucketRest(),
    now: () => new Date(),
    randomToken: () => randomToken(),
    verified: boundedVerifiedCache(),
  };
}
