import { cleanDisplayName, displayName, MAX_DISPLAY_NAME, signedCount } from '../../src/core/names';

describe('names', () => {
  it('names an account by its display name, or neutrally with its account ID when none is known', () => {
    expect(displayName('557058:d4f3-jordan', { '557058:d4f3-jordan': 'Jordan Lee' })).toBe('Jordan Lee');
    expect(displayName('557058:d4f3-jordan', {})).toBe('a signer (account 557058:d4f3-jordan)');
    // Only the map's own entries: an account ID such as "constructor" is not a name.
    expect(displayName('constructor', {})).toBe('a signer (account constructor)');
  });

  it.each([
    [0, 2, '0 of 2 signed'],
    [2, 2, '2 of 2 signed'],
    [3, 2, '3 signed, 2 needed'],
  ])('counts %i of %i as "%s"', (counted, required, text) => {
    expect(signedCount(counted, required)).toBe(text);
  });

  it('keeps a display name fit to show: trimmed, one line, bounded, and nothing for an empty one', () => {
    expect(cleanDisplayName('  Jordan   Lee ')).toBe('Jordan Lee');
    expect(cleanDisplayName('Jordan\nLee\u2028')).toBe('Jordan Lee');
    expect(cleanDisplayName('x'.repeat(300))).toHaveLength(MAX_DISPLAY_NAME);
    expect(cleanDisplayName(' \t ')).toBeUndefined();
    expect(cleanDisplayName(undefined)).toBeUndefined();
    expect(cleanDisplayName(42)).toBeUndefined();
  });
});
