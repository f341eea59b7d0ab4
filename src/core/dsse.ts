import * as z from 'zod/mini';
import { verifyP1363, type PublicJwk } from './crypto';
import { derToP1363 } from './ecdsaDer';
import { encodeBase64, pae } from './envelope';

/**
 * DSSE envelopes as the server reads them: their schema and verification. The format and the signing
 * half (PAE, base64, signing) are in envelope.ts, which the PR card imports without zod.
 */
export { encodeBase64, IN_TOTO_PAYLOAD_TYPE, pae, signEnvelopeEcdsa } from './envelope';

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

/** ECDSA P-256 / SHA-256 over `message`, signature in strict DER. Failures return false. */
export async function verifyDer(jwk: PublicJwk, message: Uint8Array<ArrayBuffer>, derSignature: Uint8Array): Promise<boolean> {
  const signature = derToP1363(derSignature);
  return signature !== undefined && verifyP1363(jwk, message, signature);
}
