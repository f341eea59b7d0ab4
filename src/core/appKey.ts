import { calculateJwkThumbprint } from 'jose';
import * as z from 'zod/mini';
import { decodeBase64url, encodeBase64url, KeyCache } from './crypto';
import { RequestError } from './errors';

/** The app's public keys, imported once each. */
const verifyKeys = new KeyCache(64);

/**
 * The app's own Ed25519 key, which countersigns every ledger entry. The private half lives as a JWK
 * in KVS secret storage; the public half is published so an auditor can check the ledger offline.
 */
const ED25519 = { name: 'Ed25519' } as const;

/**
 * 32 bytes in base64url, in its one canonical spelling: the 43rd character carries two spare bits,
 * which, set, would spell the same key another way (and give it a second RFC 7638 key id).
 */
const Ed25519Bytes = z
  .string()
  .check(
    z.regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url'),
    z.refine((value) => isCanonicalBase64url(value, 32), 'must be canonical base64url'),
  );

/** A bare Ed25519 public key. Extra members (`kid`, `alg`, `use`) are dropped, not trusted. */
export const AppPublicJwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: Ed25519Bytes,
});
export type AppPublicJwk = z.infer<typeof AppPublicJwk>;

/** The stored private key: the public members plus the 32-byte seed `d`. */
export const AppPrivateJwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: Ed25519Bytes,
  d: Ed25519Bytes,
});
export type AppPrivateJwk = z.infer<typeof AppPrivateJwk>;

export interface AppKeyPair {
  privateJwk: AppPrivateJwk;
  publicJwk: AppPublicJwk;
  keyId: string;
}

/**
 * A fresh app key. Generated extractable only so the private JWK can be stored; signing later goes
 * through `importAppSigningKey`, which imports it non-extractable.
 */
export async function generateAppKey(): Promise<AppKeyPair> {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
  const exported = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const privateJwk = AppPrivateJwk.parse(exported);
  const publicJwk: AppPublicJwk = { kty: 'OKP', crv: 'Ed25519', x: privateJwk.x };
  return { privateJwk, publicJwk, keyId: await appKeyId(publicJwk) };
}

/**
 * The stored private JWK as a non-extractable signing key. WebCrypto refuses a `d` that does not
 * belong to `x`, so a corrupted secret fails here rather than producing unverifiable entries.
 */
export async function importAppSigningKey(privateJwk: AppPrivateJwk): Promise<CryptoKey> {
  const parsed = AppPrivateJwk.safeParse(privateJwk);
  if (!parsed.success) throw new RequestError('INTERNAL', 'The app signing key is not an Ed25519 private JWK.');
  try {
    return await crypto.subtle.importKey('jwk', parsed.data, ED25519, false, ['sign']);
  } catch (cause) {
    throw new RequestError('INTERNAL', 'The app signing key could not be imported.', { cause });
  }
}

/** RFC 7638 thumbprint (SHA-256, base64url): the key id written into every ledger signature. */
export function appKeyId(publicJwk: AppPublicJwk): Promise<string> {
  const { kty, crv, x } = publicJwk;
  return calculateJwkThumbprint({ kty, crv, x }, 'sha256');
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
): Promise<boolean> {
  try {
    if (!(signature instanceof Uint8Array) || signature.length !== 64 || !scalarIsReduced(signature.subarray(32))) return false;
    // Checked before the cache is asked: a cached key must never stand in for a JWK the strict check refuses.
    const parsed = AppPublicJwk.safeParse(publicJwk);
    const key = parsed.success ? await verifyKeys.get(parsed.data.x, () => importVerifyKey(parsed.data)) : undefined;
    return key !== undefined && (await crypto.subtle.verify(ED25519, key, signature, message));
  } catch {
    return false;
  }
}

/** The public key as a WebCrypto key, imported raw from its 32 bytes; undefined if it is not one. */
async function importVerifyKey(publicJwk: AppPublicJwk): Promise<CryptoKey | undefined> {
  const parsed = AppPublicJwk.safeParse(publicJwk);
  const raw = parsed.success ? decodeBase64url(parsed.data.x) : undefined;
  if (raw?.length !== 32) return undefined;
  try {
    return await crypto.subtle.importKey('raw', raw, ED25519, false, ['verify']);
  } catch {
    return undefined;
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
