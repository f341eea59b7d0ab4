import { generateKeyPair, suggestedDeviceLabel, type DeviceKey } from '../../static/shared/deviceKeys';
import { signDecision, type SigningScope } from '../../static/shared/signing';
import { aRule, PEOPLE, World, type PanelData } from '../fixtures/world';
import { toSigstoreBundle, verifyWithSigstore } from '../support/sigstoreBundle';

describe('signing in the card', () => {
  let world: World;
  beforeEach(async () => {
    world = new World();
    await world.savePolicy([aRule()]);
  });
  afterEach(() => world.dispose());

  async function enrolDevice(accountId: string): Promise<DeviceKey> {
    const { privateKey, publicKey } = await generateKeyPair();
    const { key } = await world.ok('enrollKey', accountId, { publicKey, label: 'Chrome on Linux' });
    return { keyId: key.keyId, label: key.label, privateKey, publicKey, createdAt: key.createdAt };
  }

  /** What the card signs, taken from its panel state as the card takes it. */
  function scopeFrom(panel: PanelData, signer: string): SigningScope {
    return {
      workspace: panel.workspace,
      repository: panel.repository,
      pullRequest: panel.pullRequest.id,
      commit: panel.pullRequest.headCommit,
      targetBranch: panel.pullRequest.targetBranch,
      policy: panel.policy!.hash,
      signer,
      challenge: panel.challenge.value,
    };
  }

  it('makes a non-extractable private key and sends only the public half', async () => {
    const { privateKey, publicKey } = await generateKeyPair();
    expect(privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('jwk', privateKey)).rejects.toThrow();
    expect(Object.keys(publicKey).sort()).toEqual(['crv', 'kty', 'x', 'y']);
  });

  it('produces a statement and signature the backend accepts and counts', async () => {
    const key = await enrolDevice(PEOPLE.alice);
    const signed = await signDecision(key, scopeFrom(await world.panel(PEOPLE.alice), PEOPLE.alice), 'approve', world.clock);
    const result = await world.call('submitDecision', PEOPLE.alice, { envelope: signed.envelope });
    expect(result).toMatchObject({ ok: true, data: { verdict: { rules: [{ requirements: [{ counted: [PEOPLE.alice] }] }] } } });
  });

  it("makes envelopes that Sigstore's own verifier accepts with the approver's public key alone, and refuses once any byte changes", async () => {
    const key = await enrolDevice(PEOPLE.alice);
    const { envelope } = await signDecision(key, scopeFrom(await world.panel(PEOPLE.alice), PEOPLE.alice), 'approve', world.clock);
    await expect(verifyWithSigstore(toSigstoreBundle(envelope, key.keyId), key.publicKey, key.keyId)).resolves.toBeUndefined();

    const payload = Buffer.from(envelope.payload, 'base64');
    const signature = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    for (const index of [0, Math.floor(payload.length / 2), payload.length - 1]) {
      const changed = Buffer.from(payload);
      changed[index]! ^= 0x01;
      const tampered = { ...envelope, payload: changed.toString('base64') };
      await expect(verifyWithSigstore(toSigstoreBundle(tampered, key.keyId), key.publicKey, key.keyId)).rejects.toThrow();
    }
    const bent = Buffer.from(signature);
    bent[bent.length - 1]! ^= 0x01;
    const forged = { ...envelope, signatures: [{ ...envelope.signatures[0]!, sig: bent.toString('base64') }] };
    await expect(verifyWithSigstore(toSigstoreBundle(forged, key.keyId), key.publicKey, key.keyId)).rejects.toThrow();
  });

  it('is refused when the signer in the statement is not the caller', async () => {
    const key = await enrolDevice(PEOPLE.alice);
    // Bob's challenge, Alice's key and name: the statement names someone other than the caller.
    const signed = await signDecision(key, scopeFrom(await world.panel(PEOPLE.bob), PEOPLE.alice), 'approve', world.clock);
    expect(await world.call('submitDecision', PEOPLE.bob, { envelope: signed.envelope })).toMatchObject({ ok: false, code: 'WRONG_SIGNER' });
  });

  const day = new Date(2026, 11, 1, 12, 0); // local noon, so the day is the same in every time zone
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36', 'Chrome on Linux, 1 Dec 2026'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari on macOS, 1 Dec 2026'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Firefox on Windows, 1 Dec 2026'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0', 'Edge on Windows, 1 Dec 2026'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari on iOS, 1 Dec 2026'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36', 'Chrome on Android, 1 Dec 2026'],
  ])('suggests a device label people recognise, with the day it was enrolled', (userAgent, label) => {
    expect(suggestedDeviceLabel(userAgent, day)).toBe(label);
  });

  it('numbers the suggestion when one of the person’s keys has that label already', () => {
    const linux = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
    expect(suggestedDeviceLabel(linux, day, ['Phone'])).toBe('Chrome on Linux, 1 Dec 2026');
    expect(suggestedDeviceLabel(linux, day, ['chrome on linux, 1 dec 2026'])).toBe('Chrome on Linux, 1 Dec 2026 (2)');
    expect(suggestedDeviceLabel(linux, day, ['Chrome on Linux, 1 Dec 2026', 'Chrome on Linux, 1 Dec 2026 (2)'])).toBe('Chrome on Linux, 1 Dec 2026 (3)');
    expect(suggestedDeviceLabel(linux, new Date(2026, 11, 2, 12, 0), ['Chrome on Linux, 1 Dec 2026'])).toBe('Chrome on Linux, 2 Dec 2026');
  });
});
