import type { CardPanel } from './reviewerState';
import type { NotCountedReason } from '../../../src/core/quorum';
import { displayName, signedCount } from '../../../src/core/names';

const WHY_NOT_COUNTED: Record<NotCountedReason, string> = {
  stale: 'signed an older commit',
  retargeted: 'signed for another target branch',
  author: 'opened this pull request',
  'commit-author': 'authored a commit here',
  'revoked-key': 'key revoked',
  'not-eligible': 'not in this group',
};

/** Each rule's requirement groups: how many have signed, who, and whose signatures do not count and why. */
export function Quorum({ panel }: { panel: CardPanel }) {
  const name = (id: string) => displayName(id, panel.verdict.names);
  const many = panel.verdict.rules.length > 1;
  return (
    <div className="stack">
      {panel.verdict.rules.map((rule) => (
        <section key={rule.branchPattern} aria-label={`Rule for ${rule.branchPattern}`} className="stack">
          {many && <h3>Rule {rule.branchPattern}</h3>}
          {rule.requirements.map((req) => {
            const count = signedCount(req.counted.length, req.required);
            return (
              <div key={req.group} data-testid={`group-${req.group}`}>
                <div className="row" style={{ justifyContent: 'space-between' }}>
                  <strong>{req.group}</strong>
                  <span className={`lozenge ${req.met ? 'success' : ''}`}>{req.counted.length > req.required ? count : `${req.counted.length} of ${req.required}`}</span>
                </div>
                <div
                  className="progress"
                  role="progressbar"
                  aria-label={`${req.group}: ${count}`}
                  aria-valuemin={0}
                  aria-valuemax={req.required}
                  aria-valuenow={Math.min(req.counted.length, req.required)}
                  aria-valuetext={count}
                >
                  <span style={{ width: `${Math.min(100, (100 * req.counted.length) / req.required)}%` }} />
                </div>
                <ul className="plain small">
                  {req.counted.map((id) => (
                    <li key={id}>
                      <span aria-hidden="true">✓ </span>
                      {name(id)} <span className="subtle">approved</span>
                    </li>
                  ))}
                  {req.notCounted.map(({ accountId, reason }) => (
                    <li key={accountId} className="subtle">
                      <span aria-hidden="true">○ </span>
                      {name(accountId)} — {WHY_NOT_COUNTED[reason]}
                    </li>
                  ))}
                </ul>
              </div>
            );
          })}
          {rule.rejectedBy.length > 0 && (
            <p className="banner danger small">Rejected by {rule.rejectedBy.map(name).join(', ')}; merging is blocked until they sign an approval.</p>
          )}
        </section>
      ))}
    </div>
  );
}
