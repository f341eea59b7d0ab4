import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { isCanonicalJson } from '../../src/core/crypto';

/** Keys that sort differently as strings and as JSON.parse orders them (integer-like first), and plain ones. */
const key = fc.oneof(fc.constantFrom('0', '1', '2', '9', '10', '01', '-1', 'a', 'B', 'é', '\u{1F511}', '', 'type'), fc.string({ maxLength: 4 }));
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -0, 1e21, 1e-7, 0.1, -5, 2 ** 53, 'a\u2028b', '\ud800', '"\\'),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
})).value;

describe('isCanonicalJson', () => {
  it('agrees with the canonicalize library on every text: its own output, and JSON.stringify spellings', () => {
    fc.assert(
      fc.property(json, (value) => {
        const jcs = (v: unknown) => {
          try {
            return canonicalize(v);
          } catch {
            return undefined; // a lone surrogate: no JCS form
          }
        };
        const canonical = jcs(value);
        if (canonical !== undefined) expect(isCanonicalJson(JSON.parse(canonical), canonical)).toBe(true);
        const plain = JSON.stringify(value);
        const parsed: unknown = JSON.parse(plain);
        expect(isCanonicalJson(parsed, plain)).toBe(jcs(parsed) === plain);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses re-spellings: unsorted keys, whitespace, escapes and number forms', () => {
    const cases = ['{"b":1,"a":2}', '{"a": 1}', '{"a":"\\u0041"}', '{"a":1.0}', '{"a":1E3}', '[1 ,2]', '{"10":1,"9":2,"a":[{"y":1,"x":2}]}', '["\\ud800"]'];
    for (const text of cases) expect(isCanonicalJson(JSON.parse(text), text)).toBe(false);
    // JSON.parse puts integer-like keys first; the library still says this one is canonical.
    expect(isCanonicalJson(JSON.parse('{"10":1,"9":2}'), '{"10":1,"9":2}')).toBe(true);
  });
});
