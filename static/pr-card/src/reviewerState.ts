import type { PanelState } from '../../../src/handlers/panel';
import type { DeviceKey } from '../../shared/deviceKeys';

/** The panel as the card holds it: after a signature its single-use challenge is spent. */
export type CardPanel = Omit<PanelState, 'challenge'> & { challenge: PanelState['challenge'] | null };

export type MyDecision = NonNullable<PanelState['me']['decision']>;

/** What the card offers the viewer: every situation a reviewer can be in, decided in one place. */
export type ReviewerState =
  | { kind: 'closed'; state: string }
  | { kind: 'not-gated' }
  | { kind: 'author' }
  | { kind: 'commit-author' }
  | { kind: 'not-eligible' }
  | { kind: 'no-key' }
  /** The server lists keys of this account that are not revoked, yet this device holds none: its storage was cleared. */
  | { kind: 'key-missing'; labels: string[] }
  | { kind: 'key-revoked'; label: string }
  | { kind: 'can-sign'; key: DeviceKey; label: string; current?: MyDecision; stale?: MyDecision };

/**
 * `storage` is 'unavailable' when this browser lets the card keep no key at all (the card says so on
 * its own): then nothing was cleared, and a missing key is no news.
 */
export function reviewerState(panel: CardPanel, deviceKey: DeviceKey | undefined, storage: 'ok' | 'unavailable' = 'ok'): ReviewerState {
  if (panel.pullRequest.state !== 'OPEN') return { kind: 'closed', state: panel.pullRequest.state };
  switch (panel.me.eligibility) {
    case 'not-gated':
      return { kind: 'not-gated' };
    case 'author':
      return { kind: 'author' };
    case 'commit-author':
      return { kind: 'commit-author' };
    case 'not-eligible':
      return { kind: 'not-eligible' };
  }
  if (!deviceKey) {
    // Keys enrolled (and not revoked) but none in this browser: either its storage was cleared (browsers
    // clear or partition what a site in a frame keeps) or they were enrolled elsewhere. Say so, rather
    // than offer a bare enrolment that looks as if Countersign forgot the person.
    const live = panel.me.keys.filter((k) => !k.revoked);
    return live.length && storage === 'ok' ? { kind: 'key-missing', labels: live.map((k) => k.label) } : { kind: 'no-key' };
  }
  // A key the server does not list (enrolled for nobody, or elsewhere) cannot sign here.
  const enrolled = panel.me.keys.find((k) => k.keyId === deviceKey.keyId);
  if (!enrolled) return { kind: 'no-key' };
  if (enrolled.revoked) return { kind: 'key-revoked', label: enrolled.label };
  const mine = panel.me.decision;
  return {
    kind: 'can-sign',
    key: deviceKey,
    label: enrolled.label,
    ...(mine && !mine.stale && !mine.problem ? { current: mine } : {}),
    ...(mine?.stale ? { stale: mine } : {}),
  };
}

/** The card's headline: what state the pull request is in, which decides the banner's tone and words. */
export type Headline =
  | { kind: 'merged'; tone: 'success'; quorumMet: boolean }
  | { kind: 'closed'; tone: 'info'; state: 'DECLINED' | 'SUPERSEDED' }
  | { kind: 'not-gated'; tone: 'info' }
  | { kind: 'quorum-met'; tone: 'success' }
  | { kind: 'rejected'; tone: 'danger' }
  | { kind: 'waiting'; tone: 'warning' };

export function headline(panel: CardPanel): Headline {
  const { pullRequest, verdict } = panel;
  // A closed pull request is past the gate: say what happened to it, never "ready to merge".
  if (pullRequest.state === 'MERGED') return { kind: 'merged', tone: 'success', quorumMet: verdict.gated && verdict.pass };
  if (pullRequest.state !== 'OPEN') return { kind: 'closed', tone: 'info', state: pullRequest.state };
  if (!verdict.gated) return { kind: 'not-gated', tone: 'info' };
  if (verdict.pass) return { kind: 'quorum-met', tone: 'success' };
  if (verdict.rules.some((r) => r.rejectedBy.length > 0)) return { kind: 'rejected', tone: 'danger' };
  return { kind: 'waiting', tone: 'warning' };
}
