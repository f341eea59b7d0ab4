import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a stream's chunks into lines exactly as `readline` does with `crlfDelay: Infinity` (its
 * `kNormalWrite` and end-of-input, Node 20): a line ends at \n, \r\n or a lone \r, a \r\n split across
 * chunks is one ending, a last line without an ending is kept, and bytes of a character cut off by the
 * end of input are dropped. Without readline's events and async iterator, which cost more than the
 * splitting on a large bundle.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private sawReturn = false;

  /** The lines that `chunk` completes. */
  write(chunk: Buffer | string): string[] {
    let text = this.decoder.write(chunk);
    if (this.sawReturn) {
      if (text.codePointAt(0) === 10) text = text.slice(1);
      this.sawReturn = false;
    }
    LINE_ENDING.lastIndex = 0;
    if (!LINE_ENDING.test(text)) {
      this.rest += text;
      return [];
    }
    text = this.rest + text;
    this.sawReturn = text.endsWith('\r');
    const lines: string[] = [];
    let start = 0;
    LINE_ENDING.lastIndex = 0;
    for (let match = LINE_ENDING.exec(text); match !== null; match = LINE_ENDING.exec(text)) {
      lines.push(text.slice(start, match.index));
      start = LINE_ENDING.lastIndex;
    }
    this.rest = text.slice(start);
    return lines;
  }

  /** The last line, if the input did not end with a line ending. */
  end(): string[] {
    const last = this.rest;
    this.rest = '';
    return last.length > 0 ? [last] : [];
  }
}

const LINE_ENDING = /\r?\n|\r(?!\n)/g;
