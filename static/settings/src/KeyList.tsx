import { Fragment, useEffect, useId, useRef, useState } from 'react';
import type { SettingsState } from '../../../src/handlers/settings';
import { call } from '../../shared/bridge';
import { Confirm, ErrorBanner, formatTime } from '../../shared/ui';
import { useNames } from './services';

type Key = SettingsState['keys'][number];
type Failure = { keyId: string; code: string; message: string };

/**
 * Enrolled keys grouped by person, with their revocation state, a revoke action where the viewer may
 * use it (confirmed at the key's own row) and a rename for the viewer's own keys. `onChanged` receives
 * the fresh key list, so neither ever reloads (and loses) a policy being edited.
 */
export function KeyList({ settings, onChanged }: { settings: SettingsState; onChanged: (keys: Key[]) => void }) {
  const [revoking, setRevoking] = useState<Key>();
  const [renaming, setRenaming] = useState<Key>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Failure>();
  /** The action button focus returns to when a rename or a revoke confirmation closes, so keyboard users keep their place. */
  const [refocus, setRefocus] = useState<string>();
  const listRef = useRef<HTMLElement>(null);
  useEffect(() => {
    if (!refocus) return;
    listRef.current?.querySelector<HTMLElement>(`[data-action="${refocus}"]`)?.focus();
    setRefocus(undefined);
  }, [refocus]);
  const byPerson = new Map<string, Key[]>();
  for (const key of settings.keys) byPerson.set(key.accountId, [...(byPerson.get(key.accountId) ?? []), key]);
  const { label } = useNames([...byPerson.keys(), ...settings.keys.flatMap((k) => (k.revocation ? [k.revocation.revokedBy] : []))]);
  const name = (id: string) => (id === settings.me ? `${label(id)} (you)` : label(id));

  async function revoke(key: Key) {
    setBusy(true);
    const result = await call('revokeKey', { accountId: key.accountId, keyId: key.keyId });
    const fresh = result.ok ? await call('getSettings') : result;
    setBusy(false);
    setRevoking(undefined);
    setRefocus(`rename:${key.keyId}`);
    if (!fresh.ok) return setError({ keyId: key.keyId, code: fresh.code, message: fresh.message });
    setError(undefined);
    onChanged(fresh.data.keys);
  }

  const renamed = (key: Key, newLabel: string) => {
    setRenaming(undefined);
    setRefocus(`rename:${key.keyId}`);
    onChanged(settings.keys.map((k) => (k.keyId === key.keyId && k.accountId === key.accountId ? { ...k, label: newLabel } : k)));
  };

  return (
    <section className="stack" aria-labelledby="keys-title" ref={listRef}>
      <h2 id="keys-title">Signing keys</h2>
      <p className="subtle">{settings.canEdit ? 'Every key enrolled in this workspace. Revoking someone else’s key here stops it counting in this repository.' : 'Your enrolled keys. Revoking one stops it counting everywhere.'}</p>
      {byPerson.size === 0 &&
        (settings.canEdit ? (
          <p>No keys are enrolled yet. Reviewers enrol a key from the Countersign card on a pull request.</p>
        ) : (
          <p>You have no keys. Enrol one from the Countersign card on a pull request you review.</p>
        ))}
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
              {keys.map((key) => {
                const mine = accountId === settings.me;
                const isRenaming = renaming?.keyId === key.keyId && mine;
                const isRevoking = revoking?.keyId === key.keyId && revoking.accountId === accountId;
                return (
                  <Fragment key={key.keyId}>
                    <tr>
                      <td>{isRenaming ? <RenameForm
                            keyToRename={key}
                            onDone={(l) => renamed(key, l)}
                            onCancel={() => {
                              setRenaming(undefined);
                              setRefocus(`rename:${key.keyId}`);
                            }}
                          /> : key.label}</td>
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
                        <div className="row">
                          {mine && !isRenaming && (
                            <button type="button" className="btn" data-action={`rename:${key.keyId}`} onClick={() => setRenaming(key)} aria-label={`Rename ${key.label}`}>
                              Rename
                            </button>
                          )}
                          {!key.revocation && (settings.canEdit || mine) && (
                            <button type="button" className="btn" data-action={`revoke:${key.keyId}`} onClick={() => setRevoking(key)} aria-label={`Revoke ${key.label} of ${name(accountId)}`}>
                              Revoke
                            </button>
                          )}
                        </div>
                      </td>
                    </tr>
                    {(isRevoking || error?.keyId === key.keyId) && (
                      <tr className="row-detail">
                        <td colSpan={5}>
                          {isRevoking && (
                            <Confirm title={`Revoke “${key.label}”?`} confirmLabel="Revoke key" danger busy={busy} onConfirm={() => void revoke(key)}
                              onCancel={() => {
                                setRevoking(undefined);
                                setRefocus(`revoke:${key.keyId}`);
                              }}
                            >
                              <p>
                                {mine
                                  ? 'Signatures made with this key stop counting everywhere, and it can no longer sign. This cannot be undone.'
                                  : `Signatures ${name(accountId)} made with this key stop counting in this repository, and it can no longer sign here. This cannot be undone.`}
                              </p>
                            </Confirm>
                          )}
                          {!isRevoking && error?.keyId === key.keyId && <ErrorBanner message={error.message} code={error.code} />}
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

/** Renames one of the viewer's keys in place: the label is checked as enrolment checks it, Enter saves, Escape cancels. */
function RenameForm({ keyToRename, onDone, onCancel }: { keyToRename: Key; onDone: (label: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState(keyToRename.label);
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => {
    inputRef.current?.focus();
    inputRef.current?.select();
  }, []);

  async function submit() {
    // The backend checks the label as at enrolment and says what is wrong with it.
    setBusy(true);
    const result = await call('renameKey', { keyId: keyToRename.keyId, label: value.trim() });
    setBusy(false);
    if (!result.ok) return setProblem(result.message);
    onDone(result.data.key.label);
  }

  return (
    <div className="stack" onKeyDown={(e) => e.key === 'Escape' && onCancel()}>
      <label htmlFor={id}>New name for “{keyToRename.label}”</label>
      <input
        id={id}
        ref={inputRef}
        type="text"
        value={value}
        maxLength={80}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? `${id}-error` : undefined}
        onChange={(e) => {
          setValue(e.target.value);
          setProblem(undefined);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            void submit();
          }
        }}
      />
      {problem && (
        <p id={`${id}-error`} className="field-error">
          {problem}
        </p>
      )}
      <div className="row">
        <button type="button" className="btn primary" disabled={busy} onClick={() => void submit()}>
          {busy ? 'Saving…' : 'Save name'}
        </button>
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
