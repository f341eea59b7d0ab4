import { useState } from 'react';
import type { SettingsState } from '../../../src/handlers/settings';
import { call } from '../../shared/bridge';
import { Confirm, ErrorBanner, formatTime } from '../../shared/ui';

type Key = SettingsState['keys'][number];

/** Enrolled keys grouped by person, with their revocation state and a revoke action where the viewer may use it. */
/** `onChanged` receives the fresh key list, so a revoke never reloads (and loses) a policy being edited. */
export function KeyList({ settings, names, onChanged }: { settings: SettingsState; names: Record<string, string>; onChanged: (keys: Key[]) => void }) {
  const [revoking, setRevoking] = useState<Key>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ code: string; message: string }>();
  const byPerson = new Map<string, Key[]>();
  for (const key of settings.keys) byPerson.set(key.accountId, [...(byPerson.get(key.accountId) ?? []), key]);
  const name = (id: string) => (id === settings.me ? `${names[id] ?? id} (you)` : (names[id] ?? id));

  async function revoke(key: Key) {
    setBusy(true);
    const result = await call('revokeKey', { accountId: key.accountId, keyId: key.keyId });
    const fresh = result.ok ? await call('getSettings') : result;
    setBusy(false);
    setRevoking(undefined);
    if (!fresh.ok) return setError(fresh);
    onChanged(fresh.data.keys);
  }

  return (
    <section className="stack" aria-labelledby="keys-title">
      <h2 id="keys-title">Signing keys</h2>
      <p className="subtle">{settings.canEdit ? 'Every key enrolled in this workspace. Revoking someone else’s key here stops it counting in this repository.' : 'Your enrolled keys. Revoking one stops it counting everywhere.'}</p>
      {byPerson.size === 0 && <p>No keys are enrolled yet. Reviewers enrol a key from the Countersign card on a pull request.</p>}
      {[...byPerson].map(([accountId, keys]) => (
        <div key={accountId} className="card">
          <h3>{name(accountId)}</h3>
          <table className="keys">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Key</th>
                <th scope="col">Enrolled</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.keyId}>
                  <td>{key.label}</td>
                  <td>
                    <code title={key.keyId}>{key.keyId.slice(0, 10)}</code>
                  </td>
                  <td>{formatTime(key.createdAt)}</td>
                  <td>
                    {key.revocation ? (
                      <span className="lozenge danger" title={`Revoked ${formatTime(key.revocation.revokedAt)} by ${name(key.revocation.revokedBy)}`}>
                        {key.revocation.repository ? 'Revoked here' : 'Revoked'}
                      </span>
                    ) : (
                      <span className="lozenge success">Active</span>
                    )}
                  </td>
                  <td>
                    {!key.revocation && (settings.canEdit || accountId === settings.me) && (
                      <button type="button" className="btn" onClick={() => setRevoking(key)} aria-label={`Revoke ${key.label} of ${name(accountId)}`}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
      {error && <ErrorBanner message={error.message} code={error.code} />}
      {revoking && (
        <Confirm title={`Revoke “${revoking.label}”?`} confirmLabel="Revoke key" danger busy={busy} onConfirm={() => void revoke(revoking)} onCancel={() => setRevoking(undefined)}>
          <p>
            {revoking.accountId === settings.me
              ? 'Signatures made with this key stop counting everywhere, and it can no longer sign. This cannot be undone.'
              : `Signatures ${name(revoking.accountId)} made with this key stop counting in this repository, and it can no longer sign here. This cannot be undone.`}
          </p>
        </Confirm>
      )}
    </section>
  );
}
