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
  | { kind: 'key-revoked'; label: string }
  | { kind: 'can-sign'; key: DeviceKey; label: string; current?: MyDecision; stale?: MyDecision };

export function reviewerState(panel: CardPanel, deviceKey: DeviceKey | undefined): ReviewerState {
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
  // A key the server does not list (never enrolled, or enrolled elsewhere) cannot sign here.
  const enrolled = deviceKey && panel.me.keys.find((k) => k.keyId === deviceKey.keyId);
  if (!deviceKey || !enrolled) return { kind: 'no-key' };
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
