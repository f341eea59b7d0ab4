import { webTrigger } from '@forge/api';
import { randomToken } from '../core';
import { BitbucketRest, type RetryOptions } from '../adapters/bitbucketRest';
import { ForgeQueue } from '../adapters/forgeQueue';
import { KvsStore } from '../adapters/kvsStore';
import type { Deps } from '../ports';

/**
 * The one place where the real adapters are put together. The Forge entry points use it as it is;
 * the local host and the tests use it too, changing only the clock or the token source.
 */
export function productionDeps(overrides: Partial<Pick<Deps, 'now' | 'randomToken'>> & { retry?: Partial<RetryOptions> } = {}): Deps {
  const { retry, ...rest } = overrides;
  const store = new KvsStore();
  const bitbucket = new BitbucketRest(retry);
  return {
    gate: store,
    keys: store,
    challenges: store,
    ledger: store,
    reevaluation: store,
    deployments: store,
    queue: new ForgeQueue(),
    bitbucket,
    pipelines: bitbucket,
    gateUrl: () => webTrigger.getUrl('countersign-deployment-gate'),
    now: () => new Date(),
    randomToken: () => randomToken(),
    ...rest,
  };
}
