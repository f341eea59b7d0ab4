import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PublicJwk, verifyP1363 } from '../../src/core';
import { nodeCryptoSuite } from '../../src/cli/nodeCrypto';

const node = nodeCryptoSuite();

// Wycheproof ECDSA P-256 / SHA-256 vectors in IEEE P1363 form (C2SP/wycheproof, Apache-2.0),
// vendored in vendor/wycheproof/.
const file = join(__dirname, '../../vendor/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json');
const suite = JSON.parse(readFileSync(file, 'utf8')) as {
  numberOfTests: number;
  testGroups: { publicKeyJwk?: Record<string, string>; publicKey: { uncompressed: string }; tests: { tcId: number; comment: string; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }[] }[];
};

// Some groups give the key only as an uncompressed point (04 ‖ x ‖ y); those become JWKs here.
function jwkOf(group: (typeof suite.testGroups)[number]): PublicJwk {
  if (group.publicKeyJwk) return PublicJwk.parse(group.publicKeyJwk);
  const point = Buffer.from(group.publicKey.uncompressed, 'hex');
  return PublicJwk.parse({ kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') });
}

const vectors = suite.testGroups.flatMap((group) => group.tests.map((test) => ({ ...test, jwk: jwkOf(group) })));

const hex = (value: string) => new Uint8Array(Buffer.from(value, 'hex'));

describe('verifyP1363 against Wycheproof ecdsa_secp256r1_sha256_p1363', () => {
  it('runs every vector in the file', () => {
    expect(vectors).toHaveLength(suite.numberOfTests);
    expect(vectors.some((v) => v.result === 'acceptable')).toBe(false);
  });

  it.each(vectors.map((v) => [v.tcId, v.comment, v.result, v] as const))('tcId %i (%s) is %s', async (_id, _comment, result, vector) => {
    const verdict = await verifyP1363(vector.jwk, hex(vector.msg), hex(vector.sig));
    // And through the CLI's Node suite: the same verdict.
    expect(await verifyP1363(vector.jwk, hex(vector.msg), hex(vector.sig), node)).toBe(verdict);
    expect(verdict).toBe(result === 'valid');
  });
});
