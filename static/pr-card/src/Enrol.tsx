import type { DeviceKey } from '../../shared/deviceKeys';
import { EnrolForm } from '../../shared/Enrol';
import type { CardPanel } from './reviewerState';

/** Makes a key on this device and enrols its public half for the viewer's account. */
export function Enrol({ panel, onPanel, onDeviceKey }: { panel: CardPanel; onPanel: (p: CardPanel) => void; onDeviceKey: (k: DeviceKey) => void }) {
  return (
    <EnrolForm
      accountId={panel.me.accountId}
      takenLabels={panel.me.keys.map((k) => k.label)}
      onEnrolled={(deviceKey, key) => {
        onDeviceKey(deviceKey);
        onPanel({ ...panel, me: { ...panel.me, keys: [...panel.me.keys, { ...key, revoked: false }] } });
      }}
    />
  );
}
