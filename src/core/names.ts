/**
 * How people are named wherever Countersign shows them. Free of schemas and I/O, so the PR card can
 * import it without pulling zod into its bundle.
 */

/** The name shown for an account: its display name from Bitbucket, or a neutral phrase when none is known. */
export function displayName(accountId: string, names: Readonly<Record<string, string>>): string {
  return Object.prototype.hasOwnProperty.call(names, accountId) ? names[accountId]! : `a signer (account ${accountId})`;
}

/** A requirement's count in words: "1 of 2 signed", or "3 signed, 2 needed" once more signed than needed. */
export function signedCount(counted: number, required: number): string {
  return counted > required ? `${counted} signed, ${required} needed` : `${counted} of ${required} signed`;
}

/** The longest display name kept with a decision; Bitbucket's are far shorter. */
export const MAX_DISPLAY_NAME = 255;

/** A display name as Bitbucket gave it, fit to keep: trimmed, control characters removed, bounded; undefined if nothing is left. */
export function cleanDisplayName(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  // eslint-disable-next-line no-control-regex
  const cleaned = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, MAX_DISPLAY_NAME).trim();
  return cleaned || undefined;
}
