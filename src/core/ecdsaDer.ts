import { DER } from '@noble/curves/abstract/der.js';
import { bytesToNumberBE, hexToBytes, numberToBytesBE } from '@noble/curves/utils.js';
import { type CryptoSuite, verifyP1363 } from './crypto';
import type { PublicJwk } from './publicKey';

/**
 * ECDSA P-256 signatures in both spellings: WebCrypto writes IEEE P1363 (r‖s, 64 bytes), DSSE and
 * Sigstore tools write ASN.1 DER. The ASN.1 itself is noble's strict DER codec, not hand-written here.
 */
const SCALAR_BYTES = 32;
// SEQUENCE header (2) + two INTEGERs of tag, length and up to 33 bytes (a 0x00 ahead of a high bit).
const MAX_DER_BYTES = 2 + 2 * (2 + SCALAR_BYTES + 1);
const SCALAR_LIMIT = 1n << BigInt(8 * SCALAR_BYTES);

function isScalar(value: bigint): boolean {
  return value > 0n && value < SCALAR_LIMIT;
}

/** The order n of P-256's group. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/**
 * ECDSA signs with (r, s) and (r, n - s) alike, so a signature has two spellings that verify. The app
 * writes only the one with s <= n/2 (a P1363 signature is turned into it here) and accepts only that
 * one (`isLowS`): one entry, one signature, as Ed25519 gave. Approvers' browsers write either, so their
 * signatures are not held to this.
 */
export function toLowS(sig: Uint8Array): Uint8Array<ArrayBuffer> {
  const s = bytesToNumberBE(sig.subarray(SCALAR_BYTES));
  const out = new Uint8Array(sig);
  if (s > P256_ORDER >> 1n) out.set(numberToBytesBE(P256_ORDER - s, SCALAR_BYTES), SCALAR_BYTES);
  return out;
}

/** Whether a P1363 signature's s is in the lower half of the group order. */
export function isLowS(sig: Uint8Array): boolean {
  return sig.length === 2 * SCALAR_BYTES && bytesToNumberBE(sig.subarray(SCALAR_BYTES)) <= P256_ORDER >> 1n;
}

/** DER form of a 64-byte P1363 signature. Throws on anything WebCrypto could not have produced. */
export function p1363ToDer(sig: Uint8Array): Uint8Array<ArrayBuffer> {
  if (sig.length !== 2 * SCALAR_BYTES) throw new RangeError('A P1363 P-256 signature is 64 bytes.');
  const r = bytesToNumberBE(sig.subarray(0, SCALAR_BYTES));
  const s = bytesToNumberBE(sig.subarray(SCALAR_BYTES));
  if (!isScalar(r) || !isScalar(s)) throw new RangeError('A P1363 P-256 signature has nonzero r and s.');
  return new Uint8Array(hexToBytes(DER.hexFromSig({ r, s })));
}

/**
 * P1363 form of a DER signature; undefined unless it is exactly one strict DER SEQUENCE of two
 * positive INTEGERs below 2^256, nothing after it. One (r, s) has one DER spelling, so a re-encoded
 * copy cannot pass as another signature; (r, n - s) is another signature, which only `isLowS` refuses.
 */
export function derToP1363(der: Uint8Array): Uint8Array<ArrayBuffer> | undefined {
  const scalars = derScalars(der);
  return scalars && p1363Of(scalars);
}

function p1363Of({ r, s }: { r: bigint; s: bigint }): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(2 * SCALAR_BYTES);
  out.set(numberToBytesBE(r, SCALAR_BYTES));
  out.set(numberToBytesBE(s, SCALAR_BYTES), SCALAR_BYTES);
  return out;
}

/** The (r, s) `derToP1363` reads, as numbers; undefined wherever it is. */
function derScalars(der: Uint8Array): { r: bigint; s: bigint } | undefined {
  if (der.length > MAX_DER_BYTES) return undefined;
  try {
    const { r, s } = DER.toSig(der, SCALAR_BYTES + 1);
    return isScalar(r) && isScalar(s) ? { r, s } : undefined;
  } catch {
    return undefined;
  }
}

/** ECDSA P-256 / SHA-256 over `message`, signature in strict DER. Failures return false. */
export async function verifyDer(jwk: PublicJwk, message: Uint8Array<ArrayBuffer>, derSignature: Uint8Array, suite?: CryptoSuite): Promise<boolean> {
  // Strict DER is the core's check, whatever the suite: the suite only verifies.
  const scalars = derScalars(derSignature);
  return scalars !== undefined && verifyStrictDer(jwk, message, derSignature, scalars, suite);
}

/** `verifyDer`, accepting only the low-s spelling (`isLowS`), with the DER read once. */
export async function verifyLowSDer(jwk: PublicJwk, message: Uint8Array<ArrayBuffer>, derSignature: Uint8Array, suite?: CryptoSuite): Promise<boolean> {
  const scalars = derScalars(derSignature);
  return scalars !== undefined && scalars.s <= P256_ORDER >> 1n && verifyStrictDer(jwk, message, derSignature, scalars, suite);
}

async function verifyStrictDer(jwk: PublicJwk, message: Uint8Array<ArrayBuffer>, der: Uint8Array, scalars: { r: bigint; s: bigint }, suite?: CryptoSuite): Promise<boolean> {
  if (!suite?.verifyP256Der) return verifyP1363(jwk, message, p1363Of(scalars), suite);
  try {
    return await suite.verifyP256Der(jwk, message, der);
  } catch {
    return false;
  }
}
