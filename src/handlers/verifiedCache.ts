import type { VerifiedCache } from '../core';

/** A bounded, insertion-ordered memory of verified approvals, kept for the life of a warm function container. */
export function boundedVerifiedCache(capacity = 5000): VerifiedCache {
  const seen = new Set<string>();
  return {
    has: (fingerprint) => seen.has(fingerprint),
    add: (fingerprint) => {
      seen.add(fingerprint);
      if (seen.size > capacity) seen.delete(seen.values().next().value!);
    },
  };
}
