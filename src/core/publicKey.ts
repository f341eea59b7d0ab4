import * as z from 'zod/mini';
import { decodeBase64url, encodeBase64url } from './crypto';

/**
 * A 32-byte coordinate in base64url, in its one canonical spelling. 43 characters carry 258 bits, so
 * the last character has two spare bits; set, they would spell the same key another way, with another
 * RFC 7638 thumbprint (another key id) for one public key.
 */
const Coordinate = z
  .string()
  .check(
    z.regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url'),
    z.refine((value) => {
      const bytes = decodeBase64url(value);
      return bytes !== undefined && encodeBase64url(bytes) === value;
    }, 'must be canonical base64url'),
  );

/** The only key type Countersign accepts from approvers: a bare P-256 public key. */
export const PublicJwk = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: Coordinate,
  y: Coordinate,
});
export type PublicJwk = z.infer<typeof PublicJwk>;

/** Coordinates already found canonical, bounded: a ledger names a few keys thousands of times. */
const knownCoordinates = new Set<string>();

/**
 * PublicJwk, for readers that meet the same keys over and over (the evidence verifier): the same
 * checks, each distinct pair of coordinates checked once.
 */
export const RepeatedPublicJwk = z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string() }).check(
  z.refine((jwk) => {
    const id = `${jwk.x}.${jwk.y}`;
    if (knownCoordinates.has(id)) return true;
    if (!PublicJwk.safeParse(jwk).success) return false;
    if (knownCoordinates.size >= 4096) knownCoordinates.clear();
    knownCoordinates.add(id);
    return true;
  }, 'must be a P-256 public key in canonical base64url'),
);
