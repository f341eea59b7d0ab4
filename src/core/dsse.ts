import * as z from 'zod/mini';
import type { PublicJwk } from './crypto';
import { p1363ToDer, verifyDer } from './ecdsaDer';

/**
 * DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse, protocol v1): what every
 * Countersign signature travels in. Payload and signatures are standard base64, as the spec and
 * Sigstore tools write them. Verifiers sign and check the PAE of the exact payload bytes they hold.
 */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

const Base64 = z.string().check(z.regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'must be standard base64'));

export const EnvelopeSignature = z.strictObject({
  keyid: z.string().check(z.maxLength(256)),
  sig: Base64.check(z.minLength(1), z.maxLength(200)),
});

export const Envelope = z.strictObject({
  payloadType: z.string().check(z.minLength(1), z.maxLength(200)),
  payload: Base64.check(z.minLength(1), z.maxLength(200 * 1024)),
  signatures: z.array(EnvelopeSignature).check(z.minLength(1), z.maxLength(4)),
});
export type Envelope = z.infer<typeof Envelope>;

/**
 * DSSE's pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths
 * in ASCII decimal bytes. Written here (and checked byte for byte against `@sigstore/core`'s
 * `preAuthEncoding` in tests) because that one needs Node's Buffer, and the PR card signs in a browser.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
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

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!Base64.safeParse(text).success) return undefined;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The payload bytes exactly as carried; undefined when the envelope's base64 is not canonical. */
export function payloadBytes(envelope: Envelope): Uint8Array<ArrayBuffer> | undefined {
  const bytes = decodeBase64(envelope.payload);
  // One payload, one encoding: a re-encoding that differs would let two envelopes carry one statement.
  return bytes && encodeBase64(bytes) === envelope.payload ? bytes : undefined;
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

/**
 * The exact payload bytes when the envelope carries exactly one signature under `keyid` and it
 * verifies with `publicKey`; undefined for anything else, including a malformed envelope or
 * non-canonical base64. Signatures under other key ids are ignored.
 */
export async function verifyEnvelopeEcdsa(envelope: Envelope, publicKey: PublicJwk, keyid: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const parsed = Envelope.safeParse(envelope);
  if (!parsed.success) return undefined;
  const payload = payloadBytes(parsed.data);
  const mine = parsed.data.signatures.filter((signature) => signature.keyid === keyid);
  // Two signatures under one key id is not a thing this app writes: refuse rather than pick one.
  if (!payload || mine.length !== 1 || !mine[0]) return undefined;
  const message = pae(parsed.data.payloadType, payload);
  return (await verifySignature(publicKey, message, mine[0].sig)) ? payload : undefined;
}

function verifySignature(publicKey: PublicJwk, message: Uint8Array<ArrayBuffer>, sig: string): Promise<boolean> {
  const der = decodeBase64(sig);
  // Like the payload, a signature has one spelling: spare base64 bits must not make a second one.
  if (!der || encodeBase64(der) !== sig) return Promise.resolve(false);
  return verifyDer(publicKey, message, der);
}
