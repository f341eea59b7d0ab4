import { createHash, createPublicKey, sign as nodeSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppPublicJwk, appKeyId, generateAppKey, importAppSigningKey, verifyEd25519 } from '../../src/core/appKey';

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

  it.each(vectors.map((v) => [v.tcId, v.comment, v.result, v] as const))('tcId %i (%s) is %s', async (_id, _comment, result, vector) => {
    const verdict = await verifyEd25519(vector.jwk, hex(vector.msg), hex(vector.sig));
    expect(verdict).toBe(result === 'valid');
  });
});

describe('app key', () => {
  it('generates a key whose id is its RFC 7638 thumbprint and whose signatures verify', async () => {
    const { privateJwk, publicJwk, keyId } = await generateAppKey();
    const members = `{"crv":"Ed25519","kty":"OKP","x":"${publicJwk.x}"}`;
    expect(keyId).toBe(createHash('sha256').update(members).digest('base64url'));
    expect(await appKeyId(publicJwk)).toBe(keyId);
    expect(Object.keys(publicJwk).sort()).toEqual(['crv', 'kty', 'x']);

    const signingKey = await importAppSigningKey(privateJwk);
    expect(signingKey.extractable).toBe(false);
    const message = utf8('countersign');
    const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, signingKey, message));
    expect(await verifyEd25519(publicJwk, message, sig)).toBe(true);
    expect(await verifyEd25519(publicJwk, utf8('countersigN'), sig)).toBe(false);
    // The key is cached now; a JWK the strict check refuses must not borrow it.
    expect(await verifyEd25519({ ...publicJwk, kty: 'EC' } as never, message, sig)).toBe(false);
    expect(await verifyEd25519({ ...publicJwk, crv: 'X25519' } as never, message, sig)).toBe(false);
  });

  it('verifies signatures made by Node (OpenSSL) with the same key', async () => {
    const { privateJwk, publicJwk } = await generateAppKey();
    const message = utf8('made elsewhere');
    const sig = new Uint8Array(nodeSign(null, message, { key: { ...privateJwk }, format: 'jwk' }));
    expect(await verifyEd25519(publicJwk, message, sig)).toBe(true);
    expect(createPublicKey({ key: { ...publicJwk }, format: 'jwk' }).asymmetricKeyType).toBe('ed25519');
  });

  it('refuses a private key whose d does not belong to x', async () => {
    const a = await generateAppKey();
    const b = await generateAppKey();
    await expect(importAppSigningKey({ ...a.privateJwk, x: b.publicJwk.x })).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(importAppSigningKey({ ...a.privateJwk, d: 'short' })).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('accepts one spelling of a key: the spare bits of the last base64url character must be zero', async () => {
    const { publicJwk } = await generateAppKey();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(publicJwk.x.slice(-1));
    const respelled = publicJwk.x.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(publicJwk.x, 'base64url'));
    expect(AppPublicJwk.safeParse({ ...publicJwk, x: respelled }).success).toBe(false);
  });

  it('returns false, never throws, for wrong lengths and junk', async () => {
    const { privateJwk, publicJwk } = await generateAppKey();
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
    const { privateJwk, publicJwk } = await generateAppKey();
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

