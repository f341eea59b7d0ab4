import fc from 'fast-check';
import { BASE64, decodeCanonicalBase64, encodeBase64, isBase64 } from '../../src/core/dsse';
import { nodeCryptoSuite } from '../../src/cli/nodeCrypto';

/** The fast base64 checks say exactly what the strict regex and a re-encoding say. */
describe('isBase64 and decodeCanonicalBase64', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ ';
  const texts = fc.oneof(
    fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 16 }),
    fc.string({ maxLength: 12 }),
    fc.uint8Array({ maxLength: 40 }).map((b) => encodeBase64(b)),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.nat(63)).map(([b, bits]) => {
      const text = encodeBase64(b);
      const at = text.replace(/=+$/, '').length - 1;
      return text.slice(0, at) + alphabet[(alphabet.indexOf(text[at]!) ^ (bits & 3)) % 64] + text.slice(at + 1);
    }),
  );

  it('agree with BASE64 and with re-encoding on every string', () => {
    fc.assert(
      fc.property(texts, (text) => {
        expect(isBase64(text)).toBe(BASE64.test(text));
        const bytes = decodeCanonicalBase64(text);
        const strict = BASE64.test(text) && encodeBase64(Uint8Array.from(atob(text), (c) => c.charCodeAt(0))) === text;
        expect(bytes !== undefined).toBe(strict);
        // The CLI's native decoder gives the same answer and the same bytes.
        const native = nodeCryptoSuite().decodeBase64!(text);
        expect(native && Array.from(native)).toEqual(bytes && Array.from(bytes));
      }),
      { numRuns: 5000 },
    );
  });
});
