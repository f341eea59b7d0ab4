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

/**
 * Whether `text` is the RFC 8785 form of `value`, which `JSON.parse(text)` gave. When every object's
 * keys already come in sorted order, JCS writes exactly what `JSON.stringify` writes (it serialises
 * strings and numbers the same way), so a native stringify and a walk over the keys decide most texts.
 * The library decides the rest: integer-like keys (which `JSON.parse` reorders) and anything that may
 * hold a lone surrogate (`JSON.stringify` escapes one; JCS refuses it). Never throws.
 */
export function isCanonicalJson(value: unknown, text: string): boolean {
  try {
    if (!LONE_SURROGATE_ESCAPE.test(text) && JSON.stringify(value) === text && keysInOrder(value)) return true;
    return canonicalize(value) === text;
  } catch {
    // A lone surrogate (no JCS form), or nesting too deep to walk.
    return false;
  }
}

/** How `JSON.stringify` writes a lone surrogate; it may also match an escaped backslash, which only costs the slower check. */
const LONE_SURROGATE_ESCAPE = /\\ud[89a-f]/i;

function keysInOrder(value: unknown): boolean {
  return typeof value !== 'object' || value === null || objectKeysInOrder(value);
}

// Recurses only into objects and arrays: an entry's values are mostly strings and numbers.
function objectKeysInOrder(value: object): boolean {
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) if (typeof item === 'object' && item !== null && !objectKeysInOrder(item)) return false;
    return true;
  }
  let previous: string | undefined;
  for (const key in value) {
    if (previous !== undefined && !(previous < key)) return false;
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && !objectKeysInOrder(item)) return false;
    previous = key;
  }
  return true;
}

/** RFC 7638 thumbprint (SHA-256, base64url) of a public JWK. */
export function keyIdOf(jwk: PublicJwk): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>, suite: CryptoSuite = webCryptoSuite): Promise<string> {
  return suite.sha256Hex ? suite.sha256Hex(bytes) : hexOf(await suite.sha256(bytes));
}

export function hexOf(bytes: Uint8Array): string {
  let hex = '';
  for (const b of bytes) hex += HEX[b];
  return hex;
}

/**
 * The primitives every signature and hash check rests on. Each answers only whether the bytes verify;
 * the shape checks around them (lengths, canonical encodings, reduced scalars) are the core's, so a
 * suite cannot loosen them. WebCrypto (browser, Forge) by default; the CLI passes Node's synchronous
 * calls (src/cli/nodeCrypto.ts), which skip a thread-pool round trip per check. Keys are given as the
 * JWK members they are made of, so a suite can keep each imported once.
 */
export interface CryptoSuite {
  sha256(bytes: Uint8Array<ArrayBuffer>): Uint8Array | Promise<Uint8Array>;
  /** The same digest in lower-case hex, where the runtime writes hex itself. */
  sha256Hex?(bytes: Uint8Array<ArrayBuffer>): string;
  /** ECDSA P-256 / SHA-256, the signature as 64 bytes r‖s (IEEE P1363). */
  verifyP256(jwk: PublicJwk, message: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer>): boolean | Promise<boolean>;
  /** Ed25519 (RFC 8032, pure); `x` is the public key in base64url. */
  verifyEd25519(x: string, message: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer>): boolean | Promise<boolean>;
  /** The same check with the signature in DER, already found strict by the core, where the runtime verifies DER natively. */
  verifyP256Der?(jwk: PublicJwk, message: Uint8Array<ArrayBuffer>, der: Uint8Array): boolean | Promise<boolean>;
  /** `decodeCanonicalBase64`, faster where the runtime has a native decoder; the same answer on every text (tested). */
  decodeBase64?(text: string): Uint8Array<ArrayBuffer> | undefined;
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

const p256Keys = new KeyCache();
const ed25519Keys = new KeyCache(64);
const ED25519 = { name: 'Ed25519' } as const;

/** The primitives through WebCrypto, each key imported once (bounded caches). */
export const webCryptoSuite: CryptoSuite = {
  async sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  },
  async verifyP256(jwk, message, signature) {
    const key = await p256Keys.get(`${jwk.x}.${jwk.y}`, () => importPublicKey(jwk));
    return key !== undefined && (await crypto.subtle.verify(ECDSA_SHA256, key, signature, message));
  },
  async verifyEd25519(x, message, signature) {
    const key = await ed25519Keys.get(x, () => importEd25519(x));
    return key !== undefined && (await crypto.subtle.verify(ED25519, key, signature, message));
  },
};

async function importEd25519(x: string): Promise<CryptoKey | undefined> {
  const raw = decodeBase64url(x);
  if (raw?.length !== 32) return undefined;
  try {
    return await crypto.subtle.importKey('raw', raw, ED25519, false, ['verify']);
  } catch {
    return undefined;
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
  suite: CryptoSuite = webCryptoSuite,
): Promise<boolean> {
  if (signature.length !== 64) return false;
  try {
    return await suite.verifyP256(jwk, message, signature);
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
