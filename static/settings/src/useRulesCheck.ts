import { useEffect, useState } from 'react';
import type { RuleInput, RulesValidation } from '../../../src/core/policy';
import { call } from '../../shared/bridge';

/** How long typing pauses before the draft is checked. */
const CHECK_DELAY_MS = 200;

/**
 * The draft as the backend judges it (`checkPolicy`: the very function saving uses), asked again a
 * moment after each edit. `exact` is the answer for this very draft, undefined until it has arrived
 * (or when the check could not be made; saving then checks again anyway); `latest` is the newest
 * answer for any draft, so errors already shown stay put while the next answer is on its way.
 */
export function useRulesCheck(draft: RuleInput[]): { exact: RulesValidation | undefined; latest: RulesValidation | undefined } {
  const [checked, setChecked] = useState<{ draft: RuleInput[]; validation: RulesValidation }>();
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
export async function checkRules(draft: RuleInput[]): Promise<RulesValidation | undefined> {
  const result = await call('checkPolicy', { rules: draft });
  return result.ok ? result.data : undefined;
}
