import { createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dsse as sigstoreDsse } from '@sigstore/core';
import fc from 'fast-check';
import { keyIdOf, verifyP1363 } from '../../src/core/crypto';
import { PublicJwk } from '../../src/core/publicKey';
import { encodeBase64, IN_TOTO_PAYLOAD_TYPE, pae, signEnvelopeEcdsa, type Envelope } from '../../src/core/dsse';
import { verifyEnvelopeEcdsa } from '../../src/core/dsseVerify';
import { derToP1363, p1363ToDer, verifyDer } from '../../src/core/ecdsaDer';
import { nodeCryptoSuite } from '../../src/cli/nodeCrypto';

const hex = (value: string) => new Uint8Array(Buffer.from(value, 'hex'));
const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

// Wycheproof ECDSA P-256 / SHA-256 vectors, signatures in ASN.1 DER (C2SP/wycheproof, Apache-2.0),
// vendored in vendor/wycheproof/.
const file = join(__dirname, '../../vendor/wycheproof/ecdsa_secp256r1_sha256_test.json');
const suite = JSON.parse(readFileSync(file, 'utf8')) as {
  numberOfTests: number;
  testGroups: { publicKeyJwk?: Record<string, string>; publicKey: { uncompressed: string }; tests: { tcId: number; comment: string; flags: string[]; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }[] }[];
};

// Some groups give the key only as an uncompressed point (04 ‖ x ‖ y); those become JWKs here.
function jwkOf(group: (typeof suite.testGroups)[number]): PublicJwk {
  if (group.publicKeyJwk) return PublicJwk.parse(group.publicKeyJwk);
  const point = Buffer.from(group.publicKey.uncompressed, 'hex');
  return PublicJwk.parse({ kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') });
}

const vectors = suite.testGroups.flatMap((group) => group.tests.map((test) => ({ ...test, jwk: jwkOf(group) })));

describe('verifyDer against Wycheproof ecdsa_secp256r1_sha256 (DER)', () => {
  it('runs every vector in the file', () => {
    expect(vectors).toHaveLength(suite.numberOfTests);
    expect(vectors.some((v) => v.result === 'acceptable')).toBe(false);
  });

  it.each(vectors.map((v) => [v.tcId, v.comment, v.result, v] as const))('tcId %i (%s) is %s', async (_id, _comment, result, vector) => {
    const verdict = await verifyDer(vector.jwk, hex(vector.msg), hex(vector.sig));
    expect(verdict).toBe(result === 'valid');
  });

  // The CLI's suite verifies DER natively, after the core's strict-DER check: the same verdict on every vector.
  const node = nodeCryptoSuite();
  it('agrees through the CLI\'s Node suite on every vector', async () => {
    const wrong: number[] = [];
    for (const vector of vectors) if ((await verifyDer(vector.jwk, hex(vector.msg), hex(vector.sig), node)) !== (vector.result === 'valid')) wrong.push(vector.tcId);
    expect(wrong).toEqual([]);
  });

  it('parses every valid signature to the one DER spelling it came in', () => {
    for (const vector of vectors.filter((v) => v.result === 'valid')) {
      const p1363 = derToP1363(hex(vector.sig));
      expect(p1363 && toHex(p1363ToDer(p1363))).toBe(vector.sig);
    }
  });

  it('agrees with Node (OpenSSL) verifying the same DER on every vector', () => {
    const disagreements = vectors.filter((v) => {
      const key = createPublicKey({ key: { ...v.jwk }, format: 'jwk' });
      const node = nodeVerify('sha256', hex(v.msg), { key, dsaEncoding: 'der' }, hex(v.sig));
      return node !== (v.result === 'valid');
    });
    expect(disagreements.map((v) => v.tcId)).toEqual([]);
  });
});

/** 32-byte scalars, biased towards the cases DER encodes specially: a high bit set, leading zero bytes. */
const scalar = fc
  .oneof(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => ((bytes[0] = bytes[0]! | 0x80), bytes)),
    fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 31 })).map(([bytes, zeros]) => (bytes.fill(0, 0, zeros), bytes)),
    fc.constantFrom(hex('00'.repeat(31) + '01'), hex('ff'.repeat(32)), hex('80' + '00'.repeat(31)), hex('00' + 'ff'.repeat(31))),
  )
  .filter((bytes) => bytes.some((b) => b !== 0));

const p1363 = fc.tuple(scalar, scalar).map(([r, s]) => {
  const sig = new Uint8Array(64);
  sig.set(r);
  sig.set(s, 32);
  return sig;
});

describe('p1363ToDer / derToP1363', () => {
  it('round-trips every nonzero r and s', () => {
    fc.assert(
      fc.property(p1363, (sig) => {
        const der = p1363ToDer(sig);
        expect(der.length).toBeLessThanOrEqual(72);
        expect(derToP1363(der)).toEqual(sig);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses DER with a byte added or removed at the end', () => {
    fc.assert(
      fc.property(p1363, fc.integer({ min: 0, max: 255 }), (sig, extra) => {
        const der = p1363ToDer(sig);
        expect(derToP1363(new Uint8Array([...der, extra]))).toBeUndefined();
        expect(derToP1363(der.subarray(0, der.length - 1))).toBeUndefined();
      }),
    );
  });

  it('refuses zero, negative, over-long, BER and oversized integers', () => {
    const refused = [
      '3006020100020101', // r = 0
      '3006020101020100', // s = 0
      '3006020181020101', // r negative
      '300702020001020101', // r with a needless leading zero
      '308106020101020101', // SEQUENCE length in long form, below 128
      '30800201010201010000', // BER indefinite length
      '3106020101020101', // SET, not SEQUENCE
      '3006030101020101', // BIT STRING, not INTEGER
      `3026022101${'00'.repeat(32)}020101`, // r = 2^256
      `302702220080${'00'.repeat(32)}020101`, // r of 34 bytes
      '',
      '30',
      '3000',
    ];
    for (const der of refused) expect(derToP1363(hex(der))).toBeUndefined();
    expect(derToP1363(hex('3006020101020101'))).toEqual(hex(`${'00'.repeat(31)}01${'00'.repeat(31)}01`));
  });

  it('refuses to encode anything but 64 bytes with nonzero r and s', () => {
    expect(() => p1363ToDer(new Uint8Array(63))).toThrow(RangeError);
    expect(() => p1363ToDer(new Uint8Array(64))).toThrow(RangeError);
    expect(() => p1363ToDer(new Uint8Array(64).fill(1, 0, 32))).toThrow(RangeError);
  });

  it('writes DER that Node verifies, from real WebCrypto signatures', async () => {
    const { privateKey, publicKey } = await generateP256();
    const nodeKey = createPublicKey({ key: { ...(await exportJwk(publicKey)) }, format: 'jwk' });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (message) => {
        const sig = new Uint8Array(await crypto.subtle.sign(ECDSA_SHA256, privateKey, new Uint8Array(message)));
        const der = p1363ToDer(sig);
        expect(nodeVerify('sha256', message, { key: nodeKey, dsaEncoding: 'der' }, der)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('reads DER that Node writes, for WebCrypto to verify', async () => {
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = PublicJwk.parse(keys.publicKey.export({ format: 'jwk' }));
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (message) => {
        const der = new Uint8Array(nodeSign('sha256', message, { key: keys.privateKey, dsaEncoding: 'der' }));
        expect(await verifyDer(jwk, new Uint8Array(message), der)).toBe(true);
        const sig = derToP1363(der);
        expect(sig && (await verifyP1363(jwk, new Uint8Array(message), sig))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('pae', () => {
  it("equals @sigstore/core's preAuthEncoding byte for byte", () => {
    const payloadType = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.constant(IN_TOTO_PAYLOAD_TYPE));
    fc.assert(
      fc.property(payloadType, fc.uint8Array({ maxLength: 1024 }), (type, payload) => {
        expect(toHex(pae(type, payload))).toBe(sigstoreDsse.preAuthEncoding(type, Buffer.from(payload)).toString('hex'));
      }),
      { numRuns: 1000 },
    );
  });

  it('handles unpaired surrogates in the payload type as UTF-8 encoders do', () => {
    const type = 'a\uD800b\uDC00';
    expect(toHex(pae(type, new Uint8Array([1])))).toBe(sigstoreDsse.preAuthEncoding(type, Buffer.from([1])).toString('hex'));
  });
});

const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

function generateP256(): Promise<CryptoKeyPair> {
  // Non-extractable, as the PR card's device key is.
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

async function exportJwk(publicKey: CryptoKey): Promise<PublicJwk> {
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  return PublicJwk.parse({ kty, crv, x, y });
}

async function signer() {
  const { privateKey, publicKey } = await generateP256();
  const jwk = await exportJwk(publicKey);
  return { privateKey, jwk, keyid: await keyIdOf(jwk) };
}

const statement = new TextEncoder().encode(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'pull-request/1', digest: { gitCommit: 'a'.repeat(40) } }],
    predicateType: 'https://countersign.dev/pull-request-approval/v1',
    predicate: { decision: 'approve' },
  }),
);

function withPayload(envelope: Envelope, payload: Uint8Array): Envelope {
  return { ...envelope, payload: encodeBase64(payload) };
}

function withSig(envelope: Envelope, sig: Uint8Array): Envelope {
  return { ...envelope, signatures: [{ keyid: envelope.signatures[0]!.keyid, sig: encodeBase64(sig) }] };
}

function flipped(bytes: Uint8Array, index: number, mask: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = copy[index]! ^ mask;
  return copy;
}

/** The same bytes in base64 with a spare padding bit set: decoders accept it, it is not canonical. */
function nonCanonical(base64: string): string | undefined {
  const match = /^(.*)([A-Za-z0-9+/])(=+)$/.exec(base64);
  if (!match) return undefined;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  return `${match[1]}${alphabet[alphabet.indexOf(match[2]!) | 1]}${match[3]}`;
}

describe('signEnvelopeEcdsa / verifyEnvelopeEcdsa', () => {
  let me: Awaited<ReturnType<typeof signer>>;
  let someoneElse: Awaited<ReturnType<typeof signer>>;
  let envelope: Envelope;
  let sig: Uint8Array;

  beforeAll(async () => {
    me = await signer();
    someoneElse = await signer();
    envelope = await signEnvelopeEcdsa(me.privateKey, me.keyid, IN_TOTO_PAYLOAD_TYPE, statement);
    sig = new Uint8Array(Buffer.from(envelope.signatures[0]!.sig, 'base64'));
  });

  it('signs with a non-extractable key, in DER', () => {
    expect(me.privateKey.extractable).toBe(false);
    expect(envelope.signatures).toEqual([{ keyid: me.keyid, sig: expect.any(String) }]);
    expect(derToP1363(sig)).toBeDefined();
  });

  it('returns the exact payload bytes it signed', async () => {
    expect(await verifyEnvelopeEcdsa(envelope, me.jwk, me.keyid)).toEqual(statement);
  });

  it('round-trips any payload type and payload', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 200 }), fc.uint8Array({ minLength: 1, maxLength: 2048 }), async (type, payload) => {
        const signed = await signEnvelopeEcdsa(me.privateKey, me.keyid, type, payload);
        expect(await verifyEnvelopeEcdsa(signed, me.jwk, me.keyid)).toEqual(payload);
        expect(await verifyEnvelopeEcdsa(signed, someoneElse.jwk, me.keyid)).toBeUndefined();
      }),
      { numRuns: 50 },
    );
  });

  it('refuses every single-byte change to the payload', async () => {
    for (let i = 0; i < statement.length; i++) {
      for (const mask of [0x01, 0x80]) {
        expect(await verifyEnvelopeEcdsa(withPayload(envelope, flipped(statement, i, mask)), me.jwk, me.keyid)).toBeUndefined();
      }
    }
  });

  it('refuses every single-byte change to the signature', async () => {
    for (let i = 0; i < sig.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        expect(await verifyEnvelopeEcdsa(withSig(envelope, flipped(sig, i, mask)), me.jwk, me.keyid)).toBeUndefined();
      }
    }
  });

  it('refuses another payload type', async () => {
    for (const payloadType of ['application/json', `${IN_TOTO_PAYLOAD_TYPE} `, 'Application/vnd.in-toto+json']) {
      expect(await verifyEnvelopeEcdsa({ ...envelope, payloadType }, me.jwk, me.keyid)).toBeUndefined();
    }
  });

  it('refuses another key, under either key id', async () => {
    expect(await verifyEnvelopeEcdsa(envelope, someoneElse.jwk, me.keyid)).toBeUndefined();
    expect(await verifyEnvelopeEcdsa(envelope, someoneElse.jwk, someoneElse.keyid)).toBeUndefined();
    expect(await verifyEnvelopeEcdsa(envelope, me.jwk, someoneElse.keyid)).toBeUndefined();
  });

  it('refuses the same payload in non-canonical base64', async () => {
    const payload = new TextEncoder().encode('{"a":1}'); // 7 bytes: base64 ends in "=", spare bits to set
    const signed = await signEnvelopeEcdsa(me.privateKey, me.keyid, IN_TOTO_PAYLOAD_TYPE, payload);
    const spelled = nonCanonical(signed.payload)!;
    expect(spelled).not.toBe(signed.payload);
    expect(Buffer.from(spelled, 'base64')).toEqual(Buffer.from(payload));
    expect(await verifyEnvelopeEcdsa(signed, me.jwk, me.keyid)).toEqual(payload);
    expect(await verifyEnvelopeEcdsa({ ...signed, payload: spelled }, me.jwk, me.keyid)).toBeUndefined();
  });

  it('refuses the same signature in non-canonical base64', async () => {
    let signed = envelope;
    while (!signed.signatures[0]!.sig.endsWith('=')) signed = await signEnvelopeEcdsa(me.privateKey, me.keyid, IN_TOTO_PAYLOAD_TYPE, statement);
    const spelled = nonCanonical(signed.signatures[0]!.sig)!;
    expect(spelled).not.toBe(signed.signatures[0]!.sig);
    expect(await verifyEnvelopeEcdsa(signed, me.jwk, me.keyid)).toEqual(statement);
    expect(await verifyEnvelopeEcdsa({ ...signed, signatures: [{ keyid: me.keyid, sig: spelled }] }, me.jwk, me.keyid)).toBeUndefined();
  });

  it('ignores signatures under other key ids, refuses two under its own', async () => {
    const other = await signEnvelopeEcdsa(someoneElse.privateKey, someoneElse.keyid, IN_TOTO_PAYLOAD_TYPE, statement);
    const both = { ...envelope, signatures: [...other.signatures, ...envelope.signatures] };
    expect(await verifyEnvelopeEcdsa(both, me.jwk, me.keyid)).toEqual(statement);
    expect(await verifyEnvelopeEcdsa(both, someoneElse.jwk, someoneElse.keyid)).toEqual(statement);
    const again = await signEnvelopeEcdsa(me.privateKey, me.keyid, IN_TOTO_PAYLOAD_TYPE, statement);
    const twice = { ...envelope, signatures: [...envelope.signatures, ...again.signatures] };
    expect(await verifyEnvelopeEcdsa(twice, me.jwk, me.keyid)).toBeUndefined();
  });

  it('returns undefined, never throws, for malformed envelopes', async () => {
    const malformed = [null, {}, { ...envelope, signatures: [] }, { ...envelope, extra: 1 }, { ...envelope, payload: '' }, { ...envelope, payload: 'not base64!' }];
    for (const candidate of malformed) {
      expect(await verifyEnvelopeEcdsa(candidate as unknown as Envelope, me.jwk, me.keyid)).toBeUndefined();
    }
  });
});
