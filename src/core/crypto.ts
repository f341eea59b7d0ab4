import canonicalize from 'canonicalize';
import { base64url, calculateJwkThumbprint } from 'jose';
import { VerificationError } from './errors';
import type { PublicJwk } from './publicKey';

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** RFC 8785 (JCS) canonical form, as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array<ArrayBuffer> {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return new TextEncoder().encode(text);
}

/** RFC 7638 thumbprint (SHA-256, base64url) of a public JWK. */
export function keyIdOf(jwk: PublicJwk): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const b of digest) hex += HEX[b];
  return hex;
}

/**
 * Keys already imported, by what they are made of: verifying many signatures by a few keys (the ledger,
 * an evidence bundle) then imports each key once. Bounded, oldest first out; only valid keys are kept.
 */
export class KeyCache {
  private readonly keys = new Map<string, CryptoKey>();
  constructor(private readonly limit = 512) {}
  async get(id: string, load: () => Promise<CryptoKey | undefined>): Promise<CryptoKey | undefined> {
    const found = this.keys.get(id);
    if (found) return found;
    const key = await load();
    if (key) {
      if (this.keys.size >= this.limit) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(id, key);
    }
    return key;
  }
}

const verifyKeys = new KeyCache();

/**
 * Imports a public JWK, refusing anything that is not a point on P-256. The key goes in as the
 * uncompressed point (0x04 ‖ x ‖ y): the same key, and about twice as fast to import as a JWK.
 */
export async function importPublicKey(jwk: PublicJwk): Promise<CryptoKey> {
  const x = decodeBase64url(jwk.x);
  const y = decodeBase64url(jwk.y);
  if (x?.length !== 32 || y?.length !== 32) {
    throw new VerificationError('UNKNOWN_KEY', 'The public key is not a valid P-256 key.');
  }
  const point = new Uint8Array(65);
  point[0] = 0x04;
  point.set(x, 1);
  point.set(y, 33);
  try {
    return await crypto.subtle.importKey('raw', point, ECDSA_P256, true, ['verify']);
  } catch (cause) {
    throw new VerificationError('UNKNOWN_KEY', 'The public key is not a valid P-256 key.', { cause });
  }
}

/**
 * ECDSA P-256 / SHA-256 over `message`, signature in IEEE P1363 form (r‖s, 64 bytes).
 * Any failure, including a malformed key or signature, is a failed check, never a crash.
 */
export async function verifyP1363(
  jwk: PublicJwk,
  message: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  if (signature.length !== 64) return false;
  try {
    const key = await verifyKeys.get(`${jwk.x}.${jwk.y}`, () => importPublicKey(jwk));
    return key !== undefined && (await crypto.subtle.verify(ECDSA_SHA256, key, signature, message));
  } catch {
    return false;
  }
}

export function decodeBase64url(value: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return new Uint8Array(base64url.decode(value));
  } catch {
    return undefined;
  }
}

export function encodeBase64url(bytes: Uint8Array): string {
  return base64url.encode(bytes);
}

export function randomToken(bytes = 32): string {
  return encodeBase64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

const HMAC_SHA256 = { name: 'HMAC', hash: 'SHA-256' } as const;

/** The app's storage-seal key (32 random bytes kept in KVS secret storage) as an HMAC-SHA-256 key. */
export function importSealKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw, HMAC_SHA256, false, ['sign', 'verify']);
}

/**
 * A seal over a stored record: HMAC-SHA-256 of the JCS bytes of where it is kept and what it holds.
 * Anyone who can change storage but does not hold the app's secret cannot make a changed, added or
 * moved record carry a valid seal. A seal cannot show that an older sealed copy was put back, or
 * that a record was deleted: callers that must notice those keep other evidence (see the README).
 */
export async function sealOf(key: CryptoKey, place: string, value: unknown): Promise<string> {
  return encodeBase64url(new Uint8Array(await crypto.subtle.sign(HMAC_SHA256, key, canonicalBytes({ place, value }))));
}

export async function hasValidSeal(key: CryptoKey, place: string, value: unknown, seal: unknown): Promise<boolean> {
  const mac = typeof seal === 'string' ? decodeBase64url(seal) : undefined;
  if (!mac || mac.length !== 32) return false;
  return crypto.subtle.verify(HMAC_SHA256, key, mac, canonicalBytes({ place, value }));
}
