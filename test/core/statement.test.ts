import { createHash } from 'node:crypto';
import { buildStatement, canonicalBytes, hasValidSignature, keyIdOf, SignedStatement } from '../../src/core';
import { aSigner, commitHash, PEOPLE, REPOSITORY, signStatement, WORKSPACE } from '../fixtures/world';

const fields = {
  workspace: WORKSPACE,
  repository: REPOSITORY,
  pullRequest: 7,
  commit: commitHash('x'),
  targetBranch: 'main',
  decision: 'approve' as const,
  policy: `sha256:${'a'.repeat(64)}`,
  signer: PEOPLE.alice,
  keyId: 'k'.repeat(43),
  issuedAt: '2026-11-22T10:00:00.000Z',
  challenge: 'c'.repeat(43),
};

describe('statement', () => {
  it('canonicalises per RFC 8785: sorted keys, no whitespace, whatever the input order', () => {
    const a = new TextDecoder().decode(canonicalBytes({ b: 1, a: [true, 'é'], c: { z: 1.5, y: null } }));
    expect(a).toBe('{"a":[true,"é"],"b":1,"c":{"y":null,"z":1.5}}');
    const reordered = Object.fromEntries(Object.entries(buildStatement(fields)).reverse());
    expect(canonicalBytes(reordered)).toEqual(canonicalBytes(buildStatement(fields)));
  });

  it('names the key by its RFC 7638 thumbprint', async () => {
    const { publicKey } = await aSigner(PEOPLE.alice);
    // RFC 7638 §3.2: the required members of an EC key, in lexicographic order, no whitespace.
    const expected = createHash('sha256')
      .update(`{"crv":"${publicKey.crv}","kty":"${publicKey.kty}","x":"${publicKey.x}","y":"${publicKey.y}"}`)
      .digest('base64url');
    expect(await keyIdOf(publicKey)).toBe(expected);
  });

  it('verifies a signature made by WebCrypto and rejects it after any field changes', async () => {
    const signer = await aSigner(PEOPLE.alice);
    const statement = buildStatement({ ...fields, keyId: signer.keyId });
    const signature = await signStatement(signer, statement);
    expect(await hasValidSignature({ statement, signature }, signer.publicKey)).toBe(true);
    for (const [field, value] of Object.entries({ pullRequest: 8, commit: commitHash('y'), decision: 'reject', signer: PEOPLE.bob })) {
      expect(await hasValidSignature({ statement: { ...statement, [field]: value }, signature }, signer.publicKey)).toBe(false);
    }
  });

  it.each([
    ['a short commit', { commit: 'abc1234' }],
    ['an unknown decision', { decision: 'maybe' }],
    ['a UUID without braces', { repository: REPOSITORY.slice(1, -1) }],
    ['a local time', { issuedAt: '2026-11-22T10:00:00+01:00' }],
    ['an extra field', { note: 'hi' }],
  ])('refuses %s', (_what, change) => {
    const parsed = SignedStatement.safeParse({ statement: { ...buildStatement(fields), ...change }, signature: 's'.repeat(86) });
    expect(parsed.success).toBe(false);
  });
});
