import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { verifyPipelinesToken, type PipelinesTrust } from '../../src/core';

/**
 * Pipelines step tokens, as Bitbucket issues them (RS256, a `kid` from the workspace's keys.json, the
 * step's claims), checked against what the installation trusts. Every way a token can be someone
 * else's, stale or made up is refused with NOT_AUTHENTICATED and a reason.
 */
const WORKSPACE = '{11111111-1111-4111-8111-111111111111}';
const ISSUER = 'https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc';
const AUDIENCE = 'ari:cloud:ecosystem::app/countersign-deploy-gate';
const NOW = new Date('2026-12-02T10:00:00.000Z');
const CLAIMS = {
  workspaceUuid: WORKSPACE,
  repositoryUuid: '{22222222-2222-4222-8222-222222222222}',
  pipelineUuid: '{55555555-5555-4555-8555-555555555555}',
  stepUuid: '{66666666-6666-4666-8666-666666666666}',
  deploymentEnvironmentUuid: '{77777777-7777-4777-8777-777777777777}',
  accountUuid: '{88888888-8888-4888-8888-888888888888}',
};

let privateKey: CryptoKey;
let otherKey: CryptoKey;
let trust: PipelinesTrust;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'step-key-1', alg: 'RS256', use: 'sig' };
  trust = { issuer: ISSUER, audience: AUDIENCE, workspace: WORKSPACE, keys: { keys: [jwk] }, now: NOW };
});

async function token(options: { claims?: JWTPayload; key?: CryptoKey; kid?: string; issuer?: string; audience?: string; issuedAt?: Date; ttlSeconds?: number } = {}): Promise<string> {
  const issuedAt = Math.floor((options.issuedAt ?? new Date(NOW.getTime() - 60_000)).getTime() / 1000);
  return new SignJWT({ ...CLAIMS, ...options.claims })
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'step-key-1', typ: 'JWT' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject(`${CLAIMS.repositoryUuid}:${CLAIMS.stepUuid}`)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + (options.ttlSeconds ?? 3600))
    .sign(options.key ?? privateKey);
}

const refusal = (text: RegExp) => expect.objectContaining({ code: 'NOT_AUTHENTICATED', message: expect.stringMatching(text) });

describe('verifyPipelinesToken', () => {
  it("reads a genuine step token's workspace, repository, pipeline, step and environment", async () => {
    expect(await verifyPipelinesToken(await token(), trust)).toEqual({
      workspace: WORKSPACE,
      repository: CLAIMS.repositoryUuid,
      pipeline: CLAIMS.pipelineUuid,
      step: CLAIMS.stepUuid,
      environment: CLAIMS.deploymentEnvironmentUuid,
      expiresAt: new Date(Math.floor((NOW.getTime() - 60_000) / 1000) * 1000 + 3_600_000).toISOString(),
    });
  });

  it('refuses a forged token: signed with another key under the same kid, or a kid the workspace never published', async () => {
    await expect(verifyPipelinesToken(await token({ key: otherKey }), trust)).rejects.toEqual(refusal(/signature does not verify/));
    await expect(verifyPipelinesToken(await token({ key: otherKey, kid: 'made-up' }), trust)).rejects.toEqual(refusal(/signature does not verify/));
  });

  it('refuses a changed claim (the signature no longer covers it)', async () => {
    const [head, body, sig] = (await token()).split('.');
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString());
    const changed = Buffer.from(JSON.stringify({ ...claims, repositoryUuid: '{99999999-9999-4999-8999-999999999999}' })).toString('base64url');
    await expect(verifyPipelinesToken(`${head}.${changed}.${sig}`, trust)).rejects.toEqual(refusal(/signature does not verify/));
  });

  it('refuses an unsigned token (alg none) and text that is no JWT', async () => {
    const [, body] = (await token()).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${body}.`;
    await expect(verifyPipelinesToken(none, trust)).rejects.toEqual(refusal(/algorithm|not a signed JWT/));
    await expect(verifyPipelinesToken('not-a-token', trust)).rejects.toEqual(refusal(/not a signed JWT/));
    await expect(verifyPipelinesToken('', trust)).rejects.toEqual(refusal(/oidc: true/));
  });

  it('refuses an expired token, allowing a minute of clock difference', async () => {
    const longAgo = new Date(NOW.getTime() - 3_600_000 - 30_000);
    expect(await verifyPipelinesToken(await token({ issuedAt: longAgo }), trust)).toMatchObject({ repository: CLAIMS.repositoryUuid });
    const older = new Date(NOW.getTime() - 3_600_000 - 90_000);
    await expect(verifyPipelinesToken(await token({ issuedAt: older }), trust)).rejects.toEqual(refusal(/expired/));
  });

  it('refuses a token issued in the future beyond the clock skew', async () => {
    await expect(verifyPipelinesToken(await token({ issuedAt: new Date(NOW.getTime() + 5 * 60_000) }), trust)).rejects.toEqual(refusal(/not valid yet|iat/));
  });

  it('refuses a token for another audience', async () => {
    await expect(verifyPipelinesToken(await token({ audience: 'ari:cloud:bitbucket::workspace/11111111-1111-4111-8111-111111111111' }), trust)).rejects.toEqual(refusal(/not for Countersign: set `oidc: audiences/));
  });

  it("refuses a token from another issuer, even one signed with the workspace's own key", async () => {
    const elsewhere = 'https://api.bitbucket.org/2.0/workspaces/evil/pipelines-config/identity/oidc';
    await expect(verifyPipelinesToken(await token({ issuer: elsewhere }), trust)).rejects.toEqual(refusal(/not issued by this workspace's Pipelines/));
  });

  it('refuses a token of another workspace, and one that does not name its workspace, repository and pipeline', async () => {
    await expect(verifyPipelinesToken(await token({ claims: { workspaceUuid: '{12121212-1212-4212-8212-121212121212}' } }), trust)).rejects.toEqual(refusal(/for workspace \{12121212/));
    await expect(verifyPipelinesToken(await token({ claims: { pipelineUuid: undefined } }), trust)).rejects.toEqual(refusal(/does not name its workspace, repository and pipeline/));
    await expect(verifyPipelinesToken(await token({ claims: { repositoryUuid: 'payments' } }), trust)).rejects.toEqual(refusal(/does not name/));
  });
});
