import { createHash } from 'node:crypto';
import {
  canonicalBytes,
  DecisionStatementSchema,
  decodeBase64,
  encodeBase64,
  factsOf,
  keyIdOf,
  readStatement,
  statementPayload,
  verifyEnvelopeEcdsa,
  type Envelope,
} from '../../src/core';
import { aSigner, commitHash, PEOPLE, REPOSITORY, signStatement, statementOf, WORKSPACE, type StatementFields } from '../fixtures/world';

const fields: StatementFields = {
  workspace: WORKSPACE,
  repository: REPOSITORY,
  pullRequest: 7,
  commit: commitHash('x'),
  targetBranch: 'main',
  decision: 'approve',
  policy: `sha256:${'a'.repeat(64)}`,
  signer: PEOPLE.alice,
  keyId: 'k'.repeat(43),
  issuedAt: '2026-11-22T10:00:00.000Z',
  challenge: 'c'.repeat(43),
};

/** The envelope with its payload replaced by `json` (re-encoded), signature untouched. */
function withPayload(envelope: Envelope, json: unknown): Envelope {
  return { ...envelope, payload: encodeBase64(new TextEncoder().encode(JSON.stringify(json))) };
}

describe('decision statement v2 (in-toto Statement v1 in DSSE)', () => {
  it('canonicalises per RFC 8785: sorted keys, no whitespace, whatever the input order', () => {
    const a = new TextDecoder().decode(canonicalBytes({ b: 1, a: [true, 'é'], c: { z: 1.5, y: null } }));
    expect(a).toBe('{"a":[true,"é"],"b":1,"c":{"y":null,"z":1.5}}');
  });

  it('is an in-toto statement whose subject digest is the full head commit', () => {
    const statement = statementOf(fields);
    expect(statement).toMatchObject({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: `bitbucket:${WORKSPACE.slice(1, -1)}/${REPOSITORY.slice(1, -1)}/pull-requests/7`, digest: { gitCommit: fields.commit } }],
      predicateType: 'https://countersign.dev/pull-request-approval/v1',
      predicate: { decision: 'approve', signer: PEOPLE.alice, policy: fields.policy, challenge: fields.challenge },
    });
    expect(factsOf(statement).subject).toEqual({ kind: 'pull-request', workspace: WORKSPACE, repository: REPOSITORY, pullRequest: 7, commit: fields.commit, targetBranch: 'main' });
  });

  it('names the key by its RFC 7638 thumbprint', async () => {
    const { publicKey } = await aSigner(PEOPLE.alice);
    const expected = createHash('sha256').update(`{"crv":"${publicKey.crv}","kty":"${publicKey.kty}","x":"${publicKey.x}","y":"${publicKey.y}"}`).digest('base64url');
    expect(await keyIdOf(publicKey)).toBe(expected);
  });

  it('verifies over the exact payload bytes, and fails once any field of the statement changes', async () => {
    const signer = await aSigner(PEOPLE.alice);
    const statement = statementOf({ ...fields, keyId: signer.keyId });
    const envelope = await signStatement(signer, statement);
    const payload = await verifyEnvelopeEcdsa(envelope, signer.publicKey, signer.keyId);
    expect(payload).toEqual(statementPayload(statement));
    expect(readStatement(envelope)?.statement).toEqual(statement);
    for (const change of [{ pullRequest: 8 }, { commit: commitHash('y') }, { decision: 'reject' as const }, { signer: PEOPLE.bob }]) {
      const other = statementOf({ ...fields, keyId: signer.keyId, ...change });
      expect(await verifyEnvelopeEcdsa(withPayload(envelope, other), signer.publicKey, signer.keyId)).toBeUndefined();
    }
  });

  it('reads the bytes it was given, without re-canonicalising: another spelling of the same statement is checked as those bytes', async () => {
    const signer = await aSigner(PEOPLE.alice);
    const statement = statementOf({ ...fields, keyId: signer.keyId });
    const envelope = await signStatement(signer, statement);
    const spaced = { ...envelope, payload: encodeBase64(new TextEncoder().encode(JSON.stringify(statement, null, 2))) };
    expect(readStatement(spaced)?.statement).toEqual(statement);
    expect(await verifyEnvelopeEcdsa(spaced, signer.publicKey, signer.keyId)).toBeUndefined();
    expect(decodeBase64(envelope.payload)).toEqual(statementPayload(statement));
  });

  it.each([
    ['a short commit', (s: any) => (s.subject[0].digest.gitCommit = 'abc1234')],
    ['an unknown decision', (s: any) => (s.predicate.decision = 'maybe')],
    ['a UUID without braces', (s: any) => (s.predicate.repository = REPOSITORY.slice(1, -1))],
    ['a local time', (s: any) => (s.predicate.issuedAt = '2026-11-22T10:00:00+01:00')],
    ['an extra predicate field', (s: any) => (s.predicate.note = 'hi')],
    ['another predicate type', (s: any) => (s.predicateType = 'https://slsa.dev/provenance/v1')],
    ['a subject name for another pull request', (s: any) => (s.subject[0].name = s.subject[0].name.replace(/7$/, '8'))],
    ['two subjects', (s: any) => s.subject.push(s.subject[0])],
  ])('refuses %s', (_what, change) => {
    const statement = structuredClone(statementOf(fields));
    change(statement);
    expect(DecisionStatementSchema.safeParse(statement).success).toBe(false);
  });

  it('refuses envelopes of another payload type or with non-JSON payloads', async () => {
    const signer = await aSigner(PEOPLE.alice);
    const envelope = await signStatement(signer, statementOf({ ...fields, keyId: signer.keyId }));
    expect(readStatement({ ...envelope, payloadType: 'application/json' })).toBeUndefined();
    expect(readStatement({ ...envelope, payload: encodeBase64(new TextEncoder().encode('not json')) })).toBeUndefined();
  });
});
