import { createHash, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppPrivateJwk, AppPublicJwk, appKeyId, generateAppKey, importAppSigningKey, publicHalf, signWithAppKey, verifyAppSignature, verifyEd25519 } from '../../src/core/appKey';
import { webCryptoSuite } from '../../src/core/crypto';
import { derToP1363, p1363ToDer } from '../../src/core/ecdsaDer';
import { nodeCryptoSuite } from '../../src/cli/nodeCrypto';

// Wycheproof EdDSA (Ed25519) verification vectors (C2SP/wycheproof, Apache-2.0), vendored in vendor/wycheproof/.
const file = join(__dirname, '../../vendor/wycheproof/ed25519_test.json');
const suite = JSON.parse(readFileSync(file, 'utf8')) as {
  numberOfTests: number;
  testGroups: { publicKeyJwk?: Record<string, string>; publicKey: { pk: string }; tests: { tcId: number; comment: string; flags: string[]; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }[] }[];
};

// Groups carry the key as a JWK and as raw hex; the raw form is the fallback.
function jwkOf(group: (typeof suite.testGroups)[number]): AppPublicJwk {
  if (group.publicKeyJwk) return AppPublicJwk.parse(group.publicKeyJwk);
  return AppPublicJwk.parse({ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(group.publicKey.pk, 'hex').toString('base64url') });
}

const vectors = suite.testGroups.flatMap((group) => group.tests.map((test) => ({ ...test, jwk: jwkOf(group) })));

const hex = (value: string) => new Uint8Array(Buffer.from(value, 'hex'));
const utf8 = (text: string) => new TextEncoder().encode(text);

describe('verifyEd25519 against Wycheproof ed25519', () => {
  it('runs every vector in the file', () => {
    expect(vectors).toHaveLength(suite.numberOfTests);
    expect(vectors.some((v) => v.result === 'acceptable')).toBe(false);
  });

  it('builds the same key from the JWK and from the raw hex', () => {
    for (const group of suite.testGroups) {
      expect(Buffer.from(jwkOf(group).x, 'base64url').toString('hex')).toBe(group.publicKey.pk);
    }
  });

  // The same vectors through both suites: WebCrypto (Forge, browsers) and Node's synchronous calls (the CLI).
  const suites = { webCrypto: webCryptoSuite, node: nodeCryptoSuite() };
  it.each(vectors.flatMap((v) => Object.keys(suites).map((name) => [v.tcId, v.comment, name, v.result, v] as const)))(
    'tcId %i (%s) through %s is %s',
    async (_id, _comment, name, result, vector) => {
      const verdict = await verifyEd25519(vector.jwk, hex(vector.msg), hex(vector.sig), suites[name as keyof typeof suites]);
      expect(verdict).toBe(result === 'valid');
    },
  );
});

/** An app key as installations made them before keys were P-256: Ed25519, still signing and verifying. */
async function legacyEd25519Key(): Promise<{ privateJwk: AppPrivateJwk & { kty: 'OKP' }; publicJwk: AppPublicJwk & { kty: 'OKP' }; keyId: string }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const privateJwk = AppPrivateJwk.parse(await crypto.subtle.exportKey('jwk', pair.privateKey)) as AppPrivateJwk & { kty: 'OKP' };
  const publicJwk = publicHalf(privateJwk) as AppPublicJwk & { kty: 'OKP' };
  return { privateJwk, publicJwk, keyId: await appKeyId(publicJwk) };
}

describe('new app keys (P-256)', () => {
  it('are ECDSA P-256, identified by their RFC 7638 thumbprint, signing DER that Node verifies', async () => {
    const { privateJwk, publicJwk, keyId } = await generateAppKey();
    expect(publicJwk.kty).toBe('EC');
    if (publicJwk.kty !== 'EC') return;
    const members = `{"crv":"P-256","kty":"EC","x":"${publicJwk.x}","y":"${publicJwk.y}"}`;
    expect(keyId).toBe(createHash('sha256').update(members).digest('base64url'));
    expect(Object.keys(publicJwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    const signingKey = await importAppSigningKey(privateJwk);
    expect(signingKey.extractable).toBe(false);
    const message = utf8('countersign');
    const der = await signWithAppKey({ privateKey: signingKey, keyId }, message);
    expect(der[0]).toBe(0x30);
    expect(nodeVerify('sha256', message, createPublicKey({ key: { ...publicJwk }, format: 'jwk' }), der)).toBe(true);
    for (const suite of [webCryptoSuite, nodeCryptoSuite()]) {
      expect(await verifyAppSignature(publicJwk, message, der, suite)).toBe(true);
      expect(await verifyAppSignature(publicJwk, utf8('countersigN'), der, suite)).toBe(false);
      // The key is cached now; a JWK the strict check refuses must not borrow it.
      expect(await verifyAppSignature({ ...publicJwk, crv: 'P-384' } as never, message, der, suite)).toBe(false);
      expect(await verifyAppSignature({ ...publicJwk, y: publicJwk.x }, message, der, suite)).toBe(false);
    }
  });

  it('refuses a signature in any form but strict DER, and a private key whose d is not its own', async () => {
    const a = await generateAppKey();
    const b = await generateAppKey();
    const message = utf8('m');
    const der = await signWithAppKey({ privateKey: await importAppSigningKey(a.privateJwk), keyId: a.keyId }, message);
    const p1363 = nodeSign('sha256', message, { key: { ...a.privateJwk }, format: 'jwk', dsaEncoding: 'ieee-p1363' });
    expect(await verifyAppSignature(a.publicJwk, message, new Uint8Array(p1363))).toBe(false);
    expect(await verifyAppSignature(a.publicJwk, message, new Uint8Array([...der, 0]))).toBe(false);
    expect(await verifyAppSignature(b.publicJwk, message, der)).toBe(false);
    // The other spelling of the same signature, (r, n - s), verifies as ECDSA but is not what the app writes.
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const low = derToP1363(der)!;
    const s = BigInt(`0x${Buffer.from(low.subarray(32)).toString('hex')}`);
    expect(s <= n >> 1n).toBe(true);
    const high = new Uint8Array([...low.subarray(0, 32), ...Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]);
    expect(nodeVerify('sha256', message, { key: createPublicKey({ key: { ...a.publicJwk }, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, high)).toBe(true);
    for (const suite of [webCryptoSuite, nodeCryptoSuite()]) expect(await verifyAppSignature(a.publicJwk, message, p1363ToDer(high), suite)).toBe(false);
    if (a.privateJwk.kty !== 'EC' || b.publicJwk.kty !== 'EC') throw new Error('expected P-256 keys');
    await expect(importAppSigningKey({ ...a.privateJwk, x: b.publicJwk.x, y: b.publicJwk.y })).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});

describe('app keys made before P-256 (Ed25519)', () => {
  it('generates a key whose id is its RFC 7638 thumbprint and whose signatures verify', async () => {
    const { privateJwk, publicJwk, keyId } = await legacyEd25519Key();
    const members = `{"crv":"Ed25519","kty":"OKP","x":"${publicJwk.x}"}`;
    expect(keyId).toBe(createHash('sha256').update(members).digest('base64url'));
    expect(await appKeyId(publicJwk)).toBe(keyId);
    expect(Object.keys(publicJwk).sort()).toEqual(['crv', 'kty', 'x']);

    const signingKey = await importAppSigningKey(privateJwk);
    expect(signingKey.extractable).toBe(false);
    const message = utf8('countersign');
    const sig = await signWithAppKey({ privateKey: signingKey, keyId }, message);
    expect(sig).toHaveLength(64);
    expect(await verifyAppSignature(publicJwk, message, sig)).toBe(true);
    expect(await verifyEd25519(publicJwk, message, sig)).toBe(true);
    expect(await verifyEd25519(publicJwk, utf8('countersigN'), sig)).toBe(false);
    // The key is cached now; a JWK the strict check refuses must not borrow it.
    expect(await verifyEd25519({ ...publicJwk, kty: 'EC' } as never, message, sig)).toBe(false);
    expect(await verifyEd25519({ ...publicJwk, crv: 'X25519' } as never, message, sig)).toBe(false);
  });

  it('verifies signatures made by Node (OpenSSL) with the same key', async () => {
    const { privateJwk, publicJwk } = await legacyEd25519Key();
    const message = utf8('made elsewhere');
    const sig = new Uint8Array(nodeSign(null, message, { key: { ...privateJwk }, format: 'jwk' }));
    expect(await verifyEd25519(publicJwk, message, sig)).toBe(true);
    expect(createPublicKey({ key: { ...publicJwk }, format: 'jwk' }).asymmetricKeyType).toBe('ed25519');
  });

  it('refuses a private key whose d does not belong to x', async () => {
    const a = await legacyEd25519Key();
    const b = await legacyEd25519Key();
    await expect(importAppSigningKey({ ...a.privateJwk, x: b.publicJwk.x })).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(importAppSigningKey({ ...a.privateJwk, d: 'short' })).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('accepts one spelling of a key: the spare bits of the last base64url character must be zero', async () => {
    const { publicJwk } = await legacyEd25519Key();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(publicJwk.x.slice(-1));
    const respelled = publicJwk.x.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(publicJwk.x, 'base64url'));
    expect(AppPublicJwk.safeParse({ ...publicJwk, x: respelled }).success).toBe(false);
  });

  it('returns false, never throws, for wrong lengths and junk', async () => {
    const { privateJwk, publicJwk } = await legacyEd25519Key();
    const message = utf8('m');
    const sig = new Uint8Array(nodeSign(null, message, { key: { ...privateJwk }, format: 'jwk' }));
    expect(await verifyEd25519(publicJwk, message, sig.subarray(0, 63).slice())).toBe(false);
    expect(await verifyEd25519(publicJwk, message, new Uint8Array([...sig, 0]))).toBe(false);
    expect(await verifyEd25519({ ...publicJwk, x: publicJwk.x.slice(1) }, message, sig)).toBe(false);
    expect(await verifyEd25519({ ...publicJwk, crv: 'Ed448' } as unknown as AppPublicJwk, message, sig)).toBe(false);
    expect(await verifyEd25519(null as unknown as AppPublicJwk, message, sig)).toBe(false);
    expect(await verifyEd25519(publicJwk, message, 'sig' as unknown as Uint8Array<ArrayBuffer>)).toBe(false);
  });

  it('rejects S + L, the other spelling of a valid signature', async () => {
    const { privateJwk, publicJwk } = await legacyEd25519Key();
    const message = utf8('malleable?');
    const sig = new Uint8Array(nodeSign(null, message, { key: { ...privateJwk }, format: 'jwk' }));
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).reverse().toString('hex')) + L;
    const bumped = Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse();
    expect(bumped).toHaveLength(32); // L < 2^253, so S + L still fits
    const malleated = new Uint8Array([...sig.subarray(0, 32), ...bumped]);
    expect(await verifyEd25519(publicJwk, message, malleated)).toBe(false);
  });
});

