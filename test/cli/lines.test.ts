import fc from 'fast-check';
import { createInterface } from 'node:readline';
import { EventEmitter } from 'node:events';
import { LineSplitter } from '../../src/cli/lines';

/** The CLI's line splitter gives exactly the lines readline gives, however the input is cut into chunks. */
function readlineLines(chunks: Buffer[]): string[] {
  // An input that hands readline exactly these chunks (a stream may merge them).
  const input = Object.assign(new EventEmitter(), { resume: () => input, pause: () => input });
  const lines: string[] = [];
  createInterface({ input: input as unknown as NodeJS.ReadableStream, crlfDelay: Infinity }).on('line', (line) => lines.push(line));
  for (const chunk of chunks) input.emit('data', chunk);
  input.emit('end');
  return lines;
}

function splitterLines(chunks: Buffer[]): string[] {
  const splitter = new LineSplitter();
  return [...chunks.flatMap((chunk) => splitter.write(chunk)), ...splitter.end()];
}

describe('LineSplitter', () => {
  // Line endings, text, a multi-byte character and bytes that are not UTF-8, in any order.
  const piece = fc.constantFrom('\n', '\r', '\r\n', 'a', '{"x":1}', ' ', 'é', '€', '\u{1f600}', '\xff', '\xe2\x82');
  const input = fc
    .array(piece, { maxLength: 40 })
    .map((pieces) => Buffer.concat(pieces.map((p) => (p === '\xff' || p === '\xe2\x82' ? Buffer.from(p, 'latin1') : Buffer.from(p)))));
  const cuts = fc.array(fc.nat(200), { maxLength: 8 });

  it('agrees with readline on every input and every chunking', () => {
    fc.assert(
      fc.property(input, cuts, (bytes, at) => {
        const points = [...new Set(at.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let start = 0;
        for (const p of [...points, bytes.length]) {
          chunks.push(bytes.subarray(start, p));
          start = p;
        }
        const nonEmpty = chunks.filter((c) => c.length > 0);
        expect(splitterLines(nonEmpty)).toEqual(readlineLines(nonEmpty));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads text chunks as they are', () => {
    const splitter = new LineSplitter();
    expect([...splitter.write('a\r'), ...splitter.write('\nb\rc'), ...splitter.end()]).toEqual(['a', 'b', 'c']);
  });
});
