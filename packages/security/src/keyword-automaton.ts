/**
 * Every occurrence of a set of keywords in one pass over bytes: an Aho-Corasick automaton,
 * case-insensitive for ASCII letters, with RE2's two non-ASCII spellings of ASCII letters (the
 * Kelvin sign for `k`, the long s for `s`) read as those letters. A keyword with other non-ASCII
 * letters matches as written, all lower-case or all upper-case.
 *
 * The scanner's pre-filter: one JavaScript pass with a table lookup a byte costs less than a
 * native regex call that returns its matches, and it gives every keyword's positions at once.
 */
export class KeywordAutomaton {
  /** The keywords, as given (lower-cased). */
  readonly keywords: readonly string[];
  /** Each byte's class: the bytes no keyword holds share class 0, ASCII letters their lower case's. */
  readonly #classOf = new Uint8Array(256);
  /** `next[state * classes + class]`: the state after reading a byte of that class, failure links folded in. */
  readonly #next: Uint16Array | Uint32Array;
  readonly #classes: number;
  /** Keyword indexes that end at each state (its own and those along its failure links). */
  readonly #out: readonly (readonly number[])[];
  /** Length in bytes of each keyword's longest spelling. */
  readonly #length: readonly number[];
  /** Whether a keyword only counts at a word start (not after `[0-9A-Za-z_]`). */
  readonly #wordStart: readonly boolean[];

  /**
   * @param keywords the keywords (matched without regard to ASCII case; none may be empty)
   * @param wordStart which keywords count only at a word start (same order)
   */
  constructor(keywords: readonly string[], wordStart: readonly boolean[] = []) {
    this.keywords = keywords.map((k) => k.toLowerCase());
    this.#wordStart = this.keywords.map((_, i) => wordStart[i] ?? false);
    const goto: number[][] = [[]];
    const outs: number[][] = [[]];
    const lengths: number[] = [];
    this.keywords.forEach((keyword, index) => {
      const spellings = new Set([keyword, keyword.toUpperCase()].map((s) => Buffer.from(s, 'utf8')).map((b) => b.toString('latin1')));
      let longest = 0;
      for (const spelling of spellings) {
        longest = Math.max(longest, spelling.length);
        let state = 0;
        for (let i = 0; i < spelling.length; i++) {
          const byte = lowerAscii(spelling.charCodeAt(i));
          let to = goto[state]![byte];
          if (to === undefined) {
            to = goto.length;
            goto.push([]);
            outs.push([]);
            goto[state]![byte] = to;
          }
          state = to;
        }
        if (!outs[state]!.includes(index)) outs[state]!.push(index);
      }
      lengths.push(longest);
    });
    // Byte classes: one per byte some keyword holds (case folded), 0 for all the others.
    const used = [...new Set(goto.flatMap((row) => Object.keys(row).map(Number)))].sort((a, b) => a - b);
    used.forEach((byte, i) => (this.#classOf[byte] = i + 1));
    for (let byte = 0x41; byte <= 0x5a; byte++) this.#classOf[byte] = this.#classOf[byte + 0x20]!;
    const classes = used.length + 1;
    // Breadth-first: failure links, outputs inherited along them, and the full transition table.
    const states = goto.length;
    const next = states <= 0xffff ? new Uint16Array(states * classes) : new Uint32Array(states * classes);
    const fail = new Uint32Array(states);
    const queue: number[] = [];
    used.forEach((byte, i) => {
      const to = goto[0]![byte];
      if (to === undefined) return;
      next[i + 1] = to;
      queue.push(to);
    });
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      for (const index of outs[fail[state]!]!) if (!outs[state]!.includes(index)) outs[state]!.push(index);
      used.forEach((byte, i) => {
        const c = i + 1;
        const to = goto[state]![byte];
        if (to !== undefined) {
          next[state * classes + c] = to;
          fail[to] = next[fail[state]! * classes + c]!;
          queue.push(to);
        } else next[state * classes + c] = next[fail[state]! * classes + c]!;
      });
    }
    this.#next = next;
    this.#classes = classes;
    this.#out = outs;
    this.#length = lengths;
  }

  /**
   * Calls `found(keyword, end)` for every occurrence in `bytes` (overlapping ones included), in
   * order of their end; `end` is the offset of the occurrence's last byte.
   */
  scan(bytes: Uint8Array, found: (keyword: number, end: number) => void): void {
    const next = this.#next;
    const classOf = this.#classOf;
    const classes = this.#classes;
    const out = this.#out;
    let state = 0;
    // Where the last non-ASCII spelling of an ASCII letter ended: a hit spanning it has an
    // unknown start, so its word-start condition is taken as met (the rules decide).
    let folded = -1;
    for (let i = 0; i < bytes.length; i++) {
      let byte = bytes[i]!;
      if (byte >= 0xc5) {
        if (byte === 0xe2 && bytes[i + 1] === 0x84 && bytes[i + 2] === 0xaa) {
          byte = 0x6b;
          i += 2;
          folded = i;
        } else if (byte === 0xc5 && bytes[i + 1] === 0xbf) {
          byte = 0x73;
          i += 1;
          folded = i;
        }
      }
      state = next[state * classes + classOf[byte]!]!;
      const hits = out[state]!;
      if (hits.length === 0) continue;
      for (const keyword of hits) {
        if (this.#wordStart[keyword]) {
          const length = this.#length[keyword]!;
          const before = i - length;
          if (folded < 0 || folded <= before || folded > i) {
            if (before >= 0 && isWordByte(bytes[before]!)) continue;
          }
        }
        found(keyword, i);
      }
    }
  }
}

/** ASCII upper-case letters as lower-case; every other byte as it is. */
function lowerAscii(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
}

/** `[0-9A-Za-z_]`, RE2's `\w` and what `\b` looks at. */
function isWordByte(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x5f;
}
