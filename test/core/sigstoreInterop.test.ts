import fc from 'fast-check';
import { keyIdOf } from '../../src/core/crypto';
import { PublicJwk } from '../../src/core/publicKey';
import { encodeBase64, IN_TOTO_PAYLOAD_TYPE, signEnvelopeEcdsa, type Envelope } from '../../src/core/dsse';
import { verifyEnvelopeEcdsa } from '../../src/core/dsseVerify';
import { toSigstoreBundle, verifyWithSigstore } from '../support/sigstoreBundle';

/**
 * An approval signed the way the PR card signs it (WebCrypto, non-extractable P-256 key) is a valid
 * Sigstore DSSE bundle: the standard verifier, @sigstore/verify, unmodified, accepts it given only
 * the approver's public key, and refuses it when any byte or the key differs.
 */

async function approver() {
  const { privateKey, publicKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  const jwk = PublicJwk.parse({ kty, crv, x, y });
  return { privateKey, jwk, keyid: await keyIdOf(jwk) };
}

function statementFor(commit: string): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'pull-request/1', digest: { gitCommit: commit } }],
      predicateType: 'https://countersign.dev/pull-request-approval/v1',
      predicate: { decision: 'approve' },
    }),
  );
}

const statement = statementFor('0123456789abcdef0123456789abcdef01234567');

function flipped(bytes: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

const fromBase64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

describe('Countersign envelopes under @sigstore/verify', () => {
  let me: Awaited<ReturnType<typeof approver>>;
  let someoneElse: Awaited<ReturnType<typeof approver>>;
  let envelope: Envelope;

  beforeAll(async () => {
    me = await approver();
    someoneElse = await approver();
    envelope = await signEnvelopeEcdsa(me.privateKey, me.keyid, IN_TOTO_PAYLOAD_TYPE, statement);
  });

  const sigstore = (candidate: Envelope, jwk = me.jwk, keyid = me.keyid) => verifyWithSigstore(JSON.parse(JSON.stringify(toSigstoreBundle(candidate, keyid))), jwk, keyid);

  it('verifies with the approver public key alone', async () => {
    expect(me.privateKey.extractable).toBe(false);
    await expect(sigstore(envelope)).resolves.toBeUndefined();
  });

  it('verifies every envelope the app signs, and so does the app', async () => {
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[0-9a-f]{40}$/), async (commit) => {
        const signed = await signEnvelopeEcdsa(me.privateKey, me.keyid, IN_TOTO_PAYLOAD_TYPE, statementFor(commit));
        await expect(sigstore(signed)).resolves.toBeUndefined();
        expect(await verifyEnvelopeEcdsa(signed, me.jwk, me.keyid)).toEqual(statementFor(commit));
      }),
      { numRuns: 25 },
    );
  });

  it('refuses every single-byte change to the payload', async () => {
    for (let i = 0; i < statement.length; i++) {
      await expect(sigstore({ ...envelope, payload: encodeBase64(flipped(statement, i)) })).rejects.toThrow();
    }
  });

  it('refuses every single-byte change to the signature', async () => {
    const sig = fromBase64(envelope.signatures[0]!.sig);
    for (let i = 0; i < sig.length; i++) {
      const signatures = [{ keyid: me.keyid, sig: encodeBase64(flipped(sig, i)) }];
      await expect(sigstore({ ...envelope, signatures })).rejects.toThrow();
    }
  });

  it('refuses another payload type', async () => {
    await expect(sigstore({ ...envelope, payloadType: 'application/json' })).rejects.toThrow();
  });

  it('refuses another public key', async () => {
    await expect(sigstore(envelope, someoneElse.jwk)).rejects.toThrow('signature verification failed');
    await expect(sigstore(envelope, someoneElse.jwk, someoneElse.keyid)).rejects.toThrow('signature verification failed');
  });

  it('refuses a bundle whose key hint names no trusted key', async () => {
    const bundle = toSigstoreBundle(envelope, someoneElse.keyid);
    await expect(verifyWithSigstore(bundle, me.jwk, me.keyid)).rejects.toThrow('key not found');
  });
});
