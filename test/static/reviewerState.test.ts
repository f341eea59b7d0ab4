import { reviewerState, type CardPanel } from '../../static/pr-card/src/reviewerState';
import type { DeviceKey } from '../../static/shared/deviceKeys';

const HEAD = 'b'.repeat(40);
const OLD = 'a'.repeat(40);

function aPanel(overrides: { state?: string; eligibility?: string; keys?: { keyId: string; label: string; revoked: boolean }[]; decision?: object } = {}): CardPanel {
  return {
    pullRequest: { id: 1, state: overrides.state ?? 'OPEN', headCommit: HEAD, shortCommit: HEAD.slice(0, 7) },
    me: {
      accountId: 'me',
      eligibility: overrides.eligibility ?? 'eligible',
      keys: overrides.keys ?? [{ keyId: 'k1', label: 'Laptop', revoked: false }],
      decision: overrides.decision,
    },
  } as unknown as CardPanel;
}

const deviceKey = { keyId: 'k1', label: 'Laptop' } as DeviceKey;

describe('reviewerState', () => {
  it.each([
    ['not-gated', 'not-gated'],
    ['author', 'author'],
    ['commit-author', 'commit-author'],
    ['not-eligible', 'not-eligible'],
  ])('says why there is nothing to sign when eligibility is %s', (eligibility, kind) => {
    expect(reviewerState(aPanel({ eligibility }), deviceKey).kind).toBe(kind);
  });

  it('offers nothing on a merged pull request, even to an eligible signer', () => {
    expect(reviewerState(aPanel({ state: 'MERGED' }), deviceKey)).toEqual({ kind: 'closed', state: 'MERGED' });
  });

  it('asks for enrolment when this device holds no key', () => {
    expect(reviewerState(aPanel(), undefined).kind).toBe('no-key');
  });

  it('asks for enrolment when the device key is not enrolled for this account', () => {
    expect(reviewerState(aPanel({ keys: [{ keyId: 'other', label: 'Phone', revoked: false }] }), deviceKey).kind).toBe('no-key');
  });

  it('says the device key is revoked', () => {
    expect(reviewerState(aPanel({ keys: [{ keyId: 'k1', label: 'Laptop', revoked: true }] }), deviceKey)).toEqual({ kind: 'key-revoked', label: 'Laptop' });
  });

  it('offers signing, with the current decision on the head commit', () => {
    const decision = { decision: 'approve', commit: HEAD, issuedAt: '2026-11-22T10:00:00.000Z', stale: false };
    expect(reviewerState(aPanel({ decision }), deviceKey)).toEqual({ kind: 'can-sign', key: deviceKey, label: 'Laptop', current: decision });
  });

  it('offers signing again when the earlier signature is stale, and does not call it current', () => {
    const decision = { decision: 'approve', commit: OLD, issuedAt: '2026-11-22T10:00:00.000Z', stale: true };
    expect(reviewerState(aPanel({ decision }), deviceKey)).toEqual({ kind: 'can-sign', key: deviceKey, label: 'Laptop', stale: decision });
  });

  it('does not present a signature with a problem as the current decision', () => {
    const decision = { decision: 'approve', commit: HEAD, issuedAt: '2026-11-22T10:00:00.000Z', stale: false, problem: 'revoked-key' };
    expect(reviewerState(aPanel({ decision }), deviceKey)).toEqual({ kind: 'can-sign', key: deviceKey, label: 'Laptop' });
  });
});
