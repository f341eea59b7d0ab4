import { p1363ToDer } from './ecdsaDer';

/**
 * DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse, protocol v1): what every
 * Countersign signature travels in. Payload and signatures are standard base64, as the spec and
 * Sigstore tools write them. Verifiers sign and check the PAE of the exact payload bytes they hold.
 * This module is what signing needs, and nothing else, so the PR card carries no schema library;
 * reading and verifying envelopes is in `dsseVerify.ts`.
 */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** Standard base64 with padding, in its one canonical length. */
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const utf8 = new TextEncoder();

/**
 * DSSE's pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths
 * in ASCII decimal bytes. Written here (and checked byte for byte against `@sigstore/core`'s
 * `preAuthEncoding` in tests) because that one needs Node's Buffer, and the PR card signs in a browser.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const type = utf8.encode(payloadType);
  const head = utf8.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Whether `text` matches BASE64, tested without its repeated group: a whole number of 4-character
 * groups, and at most two `=`, at the end, leave the same strings (the last group then holds at least
 * two characters of the alphabet) at a fraction of the cost on large payloads.
 */
export function isBase64(text: string): boolean {
  return text.length % 4 === 0 && BASE64_CHARS.test(text);
}

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!isBase64(text)) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The bytes of `text` when it is their one canonical base64 spelling (what `encodeBase64` writes):
 * standard alphabet, padded, no spare bits set. `btoa` writes exactly that spelling of what `atob`
 * read, so a text is canonical when the round trip gives it back; `atob` throws on what is not base64
 * at all. Both are native: far cheaper on a large payload than a regular expression over it.
 */
export function decodeCanonicalBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (typeof text !== 'string' || text.length % 4 !== 0) return undefined;
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  if (btoa(binary) !== text) return undefined;
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The payload bytes exactly as carried; undefined when the envelope's base64 is not canonical. */
export function payloadBytes(envelope: Envelope, decode: (text: string) => Uint8Array<ArrayBuffer> | undefined = decodeCanonicalBase64): Uint8Array<ArrayBuffer> | undefined {
  // One payload, one encoding: a re-encoding that differs would let two envelopes carry one statement.
  return decode(envelope.payload);
}

const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * Signs `payload` into a one-signature envelope with a WebCrypto ECDSA P-256 key. WebCrypto writes
 * P1363; the envelope carries DER, the form DSSE and Sigstore verifiers expect.
 */
export async function signEnvelopeEcdsa(
  privateKey: CryptoKey,
  keyid: string,
  payloadType: string,
  payload: Uint8Array,
): Promise<Envelope> {
  const p1363 = new Uint8Array(await crypto.subtle.sign(ECDSA_SHA256, privateKey, pae(payloadType, payload)));
  return { payloadType, payload: encodeBase64(payload), signatures: [{ keyid, sig: encodeBase64(p1363ToDer(p1363)) }] };
}

