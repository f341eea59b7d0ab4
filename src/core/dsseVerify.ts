import * as z from 'zod/mini';
import type { PublicJwk } from './publicKey';
import { decodeCanonicalBase64, isBase64, pae, payloadBytes, type Envelope } from './dsse';
import { verifyDer } from './ecdsaDer';
import type { CryptoSuite } from './crypto';
import type { Same } from './formats';

/** A DSSE envelope as it may be received: sizes bounded, base64 checked. */
const Base64 = z.string().check(z.refine(isBase64, 'must be standard base64'));

export const EnvelopeSignature = z.strictObject({
  keyid: z.string().check(z.maxLength(256)),
  sig: Base64.check(z.minLength(1), z.maxLength(200)),
});

export const EnvelopeSchema = z.strictObject({
  payloadType: z.string().check(z.minLength(1), z.maxLength(200)),
  payload: Base64.check(z.minLength(1), z.maxLength(200 * 1024)),
  signatures: z.array(EnvelopeSignature).check(z.minLength(1), z.maxLength(4)),
});

/**
 * The same shape with payload and signatures as bounded strings only: for readers that decode them
 * with `decodeCanonicalBase64` next, which refuses anything but canonical base64 anyway, so the
 * alphabet is not also checked by a regular expression over the whole payload.
 */
export const EnvelopeShape = z.strictObject({
  payloadType: EnvelopeSchema.shape.payloadType,
  payload: z.string().check(z.minLength(1), z.maxLength(200 * 1024)),
  signatures: z
    .array(z.strictObject({ keyid: EnvelopeSignature.shape.keyid, sig: z.string().check(z.minLength(1), z.maxLength(200)) }))
    .check(z.minLength(1), z.maxLength(4)),
});

/** Compiles only while the schemas read exactly the shape `dsse.ts` writes. */
export const ENVELOPE_SCHEMA_MATCHES: Same<z.infer<typeof EnvelopeSchema>, Envelope> = true;
export const ENVELOPE_SHAPE_MATCHES: Same<z.infer<typeof EnvelopeShape>, Envelope> = true;

/**
 * The exact payload bytes when the envelope carries exactly one signature under `keyid` and it
 * verifies with `publicKey`; undefined for anything else, including a malformed envelope or
 * non-canonical base64. Signatures under other key ids are ignored.
 */
export async function verifyEnvelopeEcdsa(envelope: Envelope, publicKey: PublicJwk, keyid: string, suite?: CryptoSuite): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const parsed = EnvelopeShape.safeParse(envelope);
  return parsed.success ? verifyReadEnvelopeEcdsa(parsed.data, publicKey, keyid, suite) : undefined;
}

/** `verifyEnvelopeEcdsa` for an envelope `EnvelopeShape` has already read (its output, not its input). */
export async function verifyReadEnvelopeEcdsa(envelope: Envelope, publicKey: PublicJwk, keyid: string, suite?: CryptoSuite): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const payload = payloadBytes(envelope, suite?.decodeBase64);
  const mine = envelope.signatures.filter((signature) => signature.keyid === keyid);
  // Two signatures under one key id is not a thing this app writes: refuse rather than pick one.
  if (!payload || mine.length !== 1 || !mine[0]) return undefined;
  const message = pae(envelope.payloadType, payload);
  return (await verifySignature(publicKey, message, mine[0].sig, suite)) ? payload : undefined;
}

function verifySignature(publicKey: PublicJwk, message: Uint8Array<ArrayBuffer>, sig: string, suite?: CryptoSuite): Promise<boolean> {
  // Like the payload, a signature has one spelling: spare base64 bits must not make a second one.
  const der = (suite?.decodeBase64 ?? decodeCanonicalBase64)(sig);
  if (!der) return Promise.resolve(false);
  return verifyDer(publicKey, message, der, suite);
}
