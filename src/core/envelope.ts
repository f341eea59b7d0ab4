import { p1363ToDer } from './ecdsaDer';

/**
 * DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse, protocol v1): what every
 * Countersign signature travels in. Payload and signatures are standard base64, as the spec and
 * Sigstore tools write them. Verifiers sign and check the PAE of the exact payload bytes they hold.
 */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** A DSSE envelope as it travels; `Envelope` in dsse.ts is its schema. */
export interface EnvelopeShape {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

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
): Promise<EnvelopeShape> {
  const p1363 = new Uint8Array(await crypto.subtle.sign(ECDSA_SHA256, privateKey, pae(payloadType, payload)));
  return { payloadType, payload: encodeBase64(payload), signatures: [{ keyid, sig: encodeBase64(p1363ToDer(p1363)) }] };
}
