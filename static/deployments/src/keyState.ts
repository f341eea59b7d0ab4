import type { DeploymentsPage } from '../../../src/handlers/deployments';
import type { DeviceKey } from '../../shared/deviceKeys';

/** Whether this device can sign for the viewer, and if not, what they need to do first. */
export type KeyState =
  | { kind: 'unavailable' }
  | { kind: 'no-key' }
  | { kind: 'key-missing'; labels: string[] }
  | { kind: 'key-revoked'; label: string }
  | { kind: 'ready'; key: DeviceKey; label: string };

export function keyStateOf(me: DeploymentsPage['me'], deviceKey: DeviceKey | undefined, storage: 'ok' | 'unavailable'): KeyState {
  if (storage === 'unavailable') return { kind: 'unavailable' };
  const enrolled = deviceKey && me.keys.find((k) => k.keyId === deviceKey.keyId);
  if (enrolled) return enrolled.revoked ? { kind: 'key-revoked', label: enrolled.label } : { kind: 'ready', key: deviceKey, label: enrolled.label };
  const live = me.keys.filter((k) => !k.revoked).map((k) => k.label);
  return live.length ? { kind: 'key-missing', labels: live } : { kind: 'no-key' };
}
