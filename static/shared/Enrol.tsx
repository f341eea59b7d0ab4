import { useId, useState } from 'react';
import type { KeyRecord } from '../../src/core/records';
import { call } from './bridge';
import { generateKeyPair, saveDeviceKey, suggestedDeviceLabel, type DeviceKey } from './deviceKeys';
import { ErrorBanner } from './ui';

/**
 * Makes a key on this device and enrols its public half for the viewer's account: the PR card's
 * enrolment, shared so the deployments page offers the same one. `takenLabels` are the person's
 * keys' labels (revoked ones too), so the suggestion is one their key list does not have yet.
 */
export function EnrolForm({ accountId, takenLabels, onEnrolled }: { accountId: string; takenLabels: readonly string[]; onEnrolled: (deviceKey: DeviceKey, key: KeyRecord) => void }) {
  const [label, setLabel] = useState(() => suggestedDeviceLabel(navigator.userAgent, new Date(), takenLabels));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ code: string; message: string }>();
  const inputId = useId();
  const hintId = useId();

  async function enrol() {
    setBusy(true);
    setError(undefined);
    try {
      const { privateKey, publicKey } = await generateKeyPair();
      const result = await call('enrollKey', { publicKey, label: label.trim() });
      if (!result.ok) return setError(result);
      const { key } = result.data;
      const deviceKey = { keyId: key.keyId, label: key.label, privateKey, publicKey, createdAt: key.createdAt };
      // A key enrolled but kept by no device could never sign; revoke it rather than leave it taking a slot.
      await saveDeviceKey(accountId, deviceKey).catch(async (e: Error) => {
        await call('revokeKey', { keyId: key.keyId });
        throw e;
      });
      onEnrolled(deviceKey, key);
    } catch (e) {
      setError({ code: 'DEVICE', message: `This browser could not make or keep a signing key: ${(e as Error).message}` });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form
      className="stack"
      onSubmit={(event) => {
        event.preventDefault();
        void enrol();
      }}
    >
      <p>To sign, enrol a signing key on this device. Its private half is made by your browser and never leaves it.</p>
      <div>
        <label htmlFor={inputId}>Device label</label>
        <input id={inputId} type="text" value={label} maxLength={60} required aria-describedby={hintId} onChange={(e) => setLabel(e.target.value)} />
        <p id={hintId} className="small subtle">
          Shown in your list of keys: name it so you can tell it from your other devices, such as “Work laptop”.
        </p>
      </div>
      <div className="row">
        <button type="submit" className="btn primary" disabled={busy || !label.trim()}>
          {busy ? 'Enrolling…' : 'Enrol this device'}
        </button>
      </div>
      {error && <ErrorBanner message={error.message} code={error.code} />}
    </form>
  );
}
