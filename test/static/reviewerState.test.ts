import { headline, reviewerState, type CardPanel } from '../../static/pr-card/src/reviewerState';
import type { DeviceKey } from '../../static/shared/deviceKeys';

const HEAD = 'b'.repeat(40);
const OLD = 'a'.repeat(40);

function aPanel(
  overrides: { state?: string; eligibility?: string; keys?: { keyId: string; label: string; revoked: boolean }[]; decision?: object; verdict?: object } = {},
): CardPanel {
  return {
    pullRequest: { id: 1, state: overrides.state ?? 'OPEN', headCommit: HEAD, shortCommit: HEAD.slice(0, 7) },
    verdict: overrides.verdict ?? { gated: true, pass: false, rules: [{ rejectedBy: [] }] },
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

  it('asks for enrolment when this device holds no key and the account has none', () => {
    expect(reviewerState(aPanel({ keys: [] }), undefined).kind).toBe('no-key');
  });

  it('says the key on this device is gone when the account has keys but this browser holds none', () => {
    const keys = [
      { keyId: 'k1', label: 'Laptop', revoked: false },
      { keyId: 'k2', label: 'Old phone', revoked: true },
      { keyId: 'k3', label: 'Desktop', revoked: false },
    ];
    expect(reviewerState(aPanel({ keys }), undefined)).toEqual({ kind: 'key-missing', labels: ['Laptop', 'Desktop'] });
  });

  it('does not claim a key was cleared when this browser can keep no key at all', () => {
    expect(reviewerState(aPanel(), undefined, 'unavailable').kind).toBe('no-key');
  });

  it('offers a plain enrolment when every key of the account is revoked and none is here', () => {
    expect(reviewerState(aPanel({ keys: [{ keyId: 'k1', label: 'Laptop', revoked: true }] }), undefined).kind).toBe('no-key');
  });

  it('says nothing about keys on a closed pull request, even when the device key is gone', () => {
    expect(reviewerState(aPanel({ state: 'DECLINED' }), undefined)).toEqual({ kind: 'closed', state: 'DECLINED' });
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

describe('headline', () => {
  const met = { gated: true, pass: true, rules: [{ rejectedBy: [] }] };
  const waiting = { gated: true, pass: false, rules: [{ rejectedBy: [] }] };

  it('says a merged pull request merged, and whether its quorum was met, never "ready to merge"', () => {
    expect(headline(aPanel({ state: 'MERGED', verdict: met }))).toEqual({ kind: 'merged', tone: 'success', quorumMet: true });
    expect(headline(aPanel({ state: 'MERGED', verdict: waiting }))).toEqual({ kind: 'merged', tone: 'success', quorumMet: false });
    expect(headline(aPanel({ state: 'MERGED', verdict: { gated: false, pass: true, rules: [] } }))).toEqual({ kind: 'merged', tone: 'success', quorumMet: false });
  });

  it.each(['DECLINED', 'SUPERSEDED'])('says a %s pull request will not be merged, whatever its quorum', (state) => {
    expect(headline(aPanel({ state, verdict: met }))).toEqual({ kind: 'closed', tone: 'info', state });
  });

  it('tells the open states apart: not gated, quorum met, rejected, waiting', () => {
    expect(headline(aPanel({ verdict: { gated: false, pass: true, rules: [] } })).kind).toBe('not-gated');
    expect(headline(aPanel({ verdict: met })).kind).toBe('quorum-met');
    expect(headline(aPanel({ verdict: { gated: true, pass: false, rules: [{ rejectedBy: [] }, { rejectedBy: ['dave'] }] } })).kind).toBe('rejected');
    expect(headline(aPanel({ verdict: waiting })).kind).toBe('waiting');
  });
});
