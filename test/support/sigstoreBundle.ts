import { createPublicKey } from 'node:crypto';
import { bundleFromJSON, type SerializedBundle } from '@sigstore/bundle';
import { crypto as sigstoreCrypto } from '@sigstore/core';
import { toSignedEntity, toTrustMaterial, Verifier, VerificationError, type KeyFinderFunc } from '@sigstore/verify';
import type { PublicJwk } from '../../src/core/publicKey';
import type { Envelope } from '../../src/core/dsse';
import { sigstoreBundleOf } from '../../src/core/exports';

/**
 * Countersign envelopes checked by the unmodified Sigstore verifier (@sigstore/verify), given only
 * the approver's public key: what an auditor with `cosign verify-blob-attestation --key K
 * --insecure-ignore-tlog` or sigstore-go's `WithNoObserverTimestamps()` would run.
 */

export { SIGSTORE_BUNDLE_V03 } from '../../src/core/exports';

/** The core's bundle (`sigstoreBundleOf`), typed as @sigstore/bundle's JSON form, which it satisfies. */
export function toSigstoreBundle(envelope: Envelope, keyid: string): SerializedBundle {
  return sigstoreBundleOf(envelope, keyid);
}

// No Fulcio CAs, Rekor logs, CT logs or timestamp authorities are trusted: the key is the only anchor.
const NOTHING_ELSE_TRUSTED: Parameters<typeof toTrustMaterial>[0] = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * The key finder the `sigstore` client builds from its `keySelector` option (createKeyFinder in
 * sigstore-js packages/client): the one known key for its hint, any other hint refused. `validFor`
 * is only consulted per observer timestamp, and this verification has none.
 */
function keyFinderFor(publicJwk: PublicJwk, keyid: string): KeyFinderFunc {
  const pem = createPublicKey({ key: { ...publicJwk }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
  return (hint) => {
    if (hint !== keyid) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
    return { publicKey: sigstoreCrypto.createPublicKey(pem), validFor: () => true };
  };
}

/** Resolves when @sigstore/verify accepts the bundle under `publicJwk`; rejects with its error otherwise. */
export async function verifyWithSigstore(bundleJson: unknown, publicJwk: PublicJwk, keyid: string): Promise<void> {
  const bundle = bundleFromJSON(bundleJson);
  const trust = toTrustMaterial(NOTHING_ELSE_TRUSTED, keyFinderFor(publicJwk, keyid));
  // A bare key has no validity window to anchor in time, and nothing here is logged: thresholds 0.
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundle));
}
