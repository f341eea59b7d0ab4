import { calculateJwkThumbprint } from 'jose';
import * as z from 'zod/mini';
import { decodeBase64url, encodeBase64url, webCryptoSuite, type CryptoSuite } from './crypto';
import { p1363ToDer, toLowS, verifyLowSDer } from './ecdsaDer';
import { RequestError } from './errors';

/**
 * The app's own key, which countersigns every ledger entry. The private half lives as a JWK in KVS
 * secret storage; the public half is published so an auditor can check the ledger offline.
 *
 * New keys are ECDSA P-256 (ES256), signatures in DER as DSSE and Sigstore tools expect. Keys made
 * before that are Ed25519 and keep signing and verifying: the algorithm is the key's, read from its
 * JWK. P-256 because verifying is what an auditor does a million times: OpenSSL verifies P-256 about
 * twice as fast as Ed25519 here (9,300 against 4,970 a second on one core, `openssl speed`), which
 * decides whether a large bundle verifies at 5,000 entries a second; and it is the one algorithm the
 * approvers' keys already use.
 */
const ED25519 = { name: 'Ed25519' } as const;
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * 32 bytes in base64url, in its one canonical spelling: the 43rd character carries two spare bits,
 * which, set, would spell the same key another way (and give it a second RFC 7638 key id).
 */
const Bytes32 = z
  .string()
  .check(
    z.regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url'),
    z.refine((value) => isCanonicalBase64url(value, 32), 'must be canonical base64url'),
  );

/** Bare public keys. Extra members (`kid`, `alg`, `use`) are dropped, not trusted. */
export const Ed25519PublicJwk = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: Bytes32 });
export const P256PublicJwk = z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: Bytes32, y: Bytes32 });
export const AppPublicJwk = z.union([P256PublicJwk, Ed25519PublicJwk]);
export type AppPublicJwk = z.infer<typeof AppPublicJwk>;

/** The stored private key: the public members plus the 32-byte private scalar or seed `d`. */
export const AppPrivateJwk = z.union([
  z.object({ ...P256PublicJwk.shape, d: Bytes32 }),
  z.object({ ...Ed25519PublicJwk.shape, d: Bytes32 }),
]);
export type AppPrivateJwk = z.infer<typeof AppPrivateJwk>;

export interface AppKeyPair {
  privateJwk: AppPrivateJwk;
  publicJwk: AppPublicJwk;
  keyId: string;
}

/** The key a ledger entry or a summary is signed with: which algorithm is the key's own. */
export interface AppSigningKey {
  privateKey: CryptoKey;
  keyId: string;
}

/**
 * A fresh app key (P-256). Generated extractable only so the private JWK can be stored; signing later
 * goes through `importAppSigningKey`, which imports it non-extractable.
 */
export async function generateAppKey(): Promise<AppKeyPair> {
  const pair = (await crypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const privateJwk = AppPrivateJwk.parse(await crypto.subtle.exportKey('jwk', pair.privateKey));
  const publicJwk = publicHalf(privateJwk);
  return { privateJwk, publicJwk, keyId: await appKeyId(publicJwk) };
}

/** The public members of a key, and nothing else. */
export function publicHalf(jwk: AppPublicJwk | AppPrivateJwk): AppPublicJwk {
  return jwk.kty === 'EC' ? { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
}

/**
 * The stored private JWK as a non-extractable signing key. WebCrypto refuses a `d` that does not
 * belong to the public members, so a corrupted secret fails here rather than producing unverifiable entries.
 */
export async function importAppSigningKey(privateJwk: AppPrivateJwk): Promise<CryptoKey> {
  const parsed = AppPrivateJwk.safeParse(privateJwk);
  if (!parsed.success) throw new RequestError('INTERNAL', 'The app signing key is not a P-256 or Ed25519 private JWK.');
  try {
    return await crypto.subtle.importKey('jwk', parsed.data, parsed.data.kty === 'EC' ? ECDSA_P256 : ED25519, false, ['sign']);
  } catch (cause) {
    throw new RequestError('INTERNAL', 'The app signing key could not be imported.', { cause });
  }
}

/** The app's signature over `message`: DER for a P-256 key, the 64 bytes of RFC 8032 for Ed25519. */
export async function signWithAppKey(appKey: AppSigningKey, message: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  if (appKey.privateKey.algorithm.name === 'ECDSA') {
    return p1363ToDer(toLowS(new Uint8Array(await crypto.subtle.sign(ECDSA_SHA256, appKey.privateKey, message))));
  }
  return new Uint8Array(await crypto.subtle.sign(ED25519, appKey.privateKey, message));
}

/** RFC 7638 thumbprint (SHA-256, base64url): the key id written into every ledger signature. */
export function appKeyId(publicJwk: AppPublicJwk): Promise<string> {
  return calculateJwkThumbprint(publicHalf(publicJwk), 'sha256');
}

/**
 * The app's signature over `message` with `publicJwk`, whichever algorithm the key is. False for
 * anything that is not a valid signature, including a malformed key or signature; never throws.
 */
export function verifyAppSignature(
  publicJwk: AppPublicJwk,
  message: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  suite: CryptoSuite = webCryptoSuite,
): Promise<boolean> {
  if (publicJwk?.kty === 'EC') {
    // Checked before a suite's cache is asked: a cached key must never stand in for a JWK the strict check refuses.
    const jwk = strictP256Jwk(publicJwk);
    // Only the low-s spelling the app writes: one entry, one signature.
    return jwk && signature instanceof Uint8Array ? verifyLowSDer(jwk, message, signature, suite) : Promise.resolve(false);
  }
  return verifyEd25519(publicJwk, message, signature, suite);
}

/** Keys `P256PublicJwk` has read, by coordinates, bounded: a ledger's one or two keys sign every entry. */
const strictP256Keys = new Map<string, z.infer<typeof P256PublicJwk>>();

/** What `P256PublicJwk` reads from an `EC` key, undefined where it refuses it; each distinct key is read once. */
function strictP256Jwk(publicJwk: { kty: 'EC'; crv: unknown; x: unknown; y: unknown }): z.infer<typeof P256PublicJwk> | undefined {
  const { crv, x, y } = publicJwk;
  const id = crv === 'P-256' && typeof x === 'string' && typeof y === 'string' ? `${x}.${y}` : undefined;
  const known = id === undefined ? undefined : strictP256Keys.get(id);
  if (known) return known;
  const parsed = P256PublicJwk.safeParse(publicJwk);
  if (!parsed.success) return undefined;
  if (id !== undefined) {
    if (strictP256Keys.size >= 64) strictP256Keys.clear();
    strictP256Keys.set(id, Object.freeze(parsed.data));
  }
  return parsed.data;
}

/** Ed25519 group order L = 2^252 + 27742317777372353535851937790883648493. */
const GROUP_ORDER = (1n << 252n) + 27742317777372353535851937790883648493n;

/**
 * Ed25519 (RFC 8032, pure) over `message`. False for anything that is not a valid signature,
 * including a malformed key or signature; never throws.
 *
 * S must be below the group order (RFC 8032 §5.1.7). OpenSSL, behind Node's WebCrypto, already
 * checks this (Wycheproof agrees with it on every vector), but a browser engine is not bound to the
 * same library: checking here makes "one message, one valid signature per key" hold on every runtime.
 */
export async function verifyEd25519(
  publicJwk: AppPublicJwk,
  message: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
  suite: CryptoSuite = webCryptoSuite,
): Promise<boolean> {
  try {
    if (!(signature instanceof Uint8Array) || signature.length !== 64 || !scalarIsReduced(signature.subarray(32))) return false;
    const parsed = Ed25519PublicJwk.safeParse(publicJwk);
    return parsed.success && (await suite.verifyEd25519(parsed.data.x, message, signature));
  } catch {
    return false;
  }
}

/** S is little-endian; S >= L would be a second spelling (S + L) of the same signature. */
function scalarIsReduced(s: Uint8Array): boolean {
  let value = 0n;
  for (let i = s.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(s[i] ?? 0);
  return value < GROUP_ORDER;
}

function isCanonicalBase64url(value: string, length: number): boolean {
  const bytes = decodeBase64url(value);
  return bytes?.length === length && encodeBase64url(bytes) === value;
}
