import { useEffect, useState } from 'react';
import type { DraftValidation } from '../../../src/core/policy';
import { call } from '../../shared/bridge';
import type { PolicyDraft } from './draft';

/** How long typing pauses before the draft is checked. */
const CHECK_DELAY_MS = 200;

/**
 * The draft, rules and environment policies, as the backend judges it (`checkPolicy`: the very
 * function saving uses), asked again a moment after each edit. `exact` is the answer for this very draft, undefined until it has arrived
 * (or when the check could not be made; saving then checks again anyway); `latest` is the newest
 * answer for any draft, so errors already shown stay put while the next answer is on its way.
 */
export function useRulesCheck(draft: PolicyDraft): { exact: DraftValidation | undefined; latest: DraftValidation | undefined } {
  const [checked, setChecked] = useState<{ draft: PolicyDraft; validation: DraftValidation }>();
  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      void checkRules(draft).then((validation) => current && validation && setChecked({ draft, validation }));
    }, CHECK_DELAY_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [draft]);
  return { exact: checked?.draft === draft ? checked.validation : undefined, latest: checked?.validation };
}

/** One check of a draft; undefined when the backend could not be asked. */
export async function checkRules(draft: PolicyDraft): Promise<DraftValidation | undefined> {
  const result = await call('checkPolicy', draft);
  return result.ok ? result.data : undefined;
}
