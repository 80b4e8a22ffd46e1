import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeywordAutomaton } from './keyword-automaton.js';

/** Every occurrence by a plain search over the ASCII-lower-cased bytes: `keyword@end`, sorted. */
function naive(keywords: readonly string[], wordStart: readonly boolean[], text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const lower = Buffer.from(bytes.map((b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b)));
  const out: string[] = [];
  keywords.forEach((k, index) => {
    const needle = Buffer.from(k.toLowerCase(), 'utf8');
    for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, i + 1)) {
      if (wordStart[index] && i > 0 && /\w/.test(String.fromCharCode(bytes[i - 1]!))) continue;
      out.push(`${index}@${i + needle.length - 1}`);
    }
  });
  return out.sort();
}

function scanned(automaton: KeywordAutomaton, text: string): string[] {
  const out: string[] = [];
  automaton.scan(Buffer.from(text, 'utf8'), (k, end) => out.push(`${k}@${end}`));
  return out.sort();
}

describe('KeywordAutomaton', () => {
  it('reports every occurrence, overlapping and nested ones included, without regard to ASCII case', () => {
    const a = new KeywordAutomaton(['passw', 'password', 'word', 'sk_', 'sk_live_']);
    expect(scanned(a, 'PassWord=1; sk_live_x')).toEqual(['0@4', '1@7', '2@7', '3@14', '4@19'].sort());
  });

  it('counts a word-start keyword only at a word start', () => {
    const a = new KeywordAutomaton(['ey', 'key'], [true, false]);
    expect(scanned(a, 'key ey.x _ey Ey')).toEqual(['1@2', '0@5', '0@14'].sort());
  });

  it('reads the Kelvin sign as k and the long s as s, as RE2 does', () => {
    const a = new KeywordAutomaton(['key', 'passwd'], [true, false]);
    // U+212A is three bytes, U+017F two: the ends are byte offsets of the last byte.
    expect(scanned(a, '\u212Aey pa\u017Fswd')).toEqual(['0@4', '1@12']);
  });

  it('matches non-ASCII keywords as written, lower- or upper-case', () => {
    const a = new KeywordAutomaton(['ключ']);
    expect(scanned(a, 'ключ КЛЮЧ Ключ').length).toBe(2);
  });

  it('agrees with a plain search on generated keywords and texts', () => {
    const alphabet = fc.constantFrom(...'abAB_.- \n0é');
    const word = fc.array(alphabet, { minLength: 1, maxLength: 4 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.uniqueArray(word, { minLength: 1, maxLength: 8, selector: (w) => w.toLowerCase() }),
        fc.array(fc.boolean(), { maxLength: 8 }),
        fc.array(alphabet, { maxLength: 200 }),
        (keywords, starts, chars) => {
          // Word-start only for keywords that start with a word character, as the scanner uses it.
          const wordStart = keywords.map((k, i) => (starts[i] ?? false) && /^\w/.test(k));
          const text = chars.join('');
          expect(scanned(new KeywordAutomaton(keywords, wordStart), text)).toEqual(naive(keywords, wordStart, text));
        },
      ),
      { numRuns: 500, seed: 1202 },
    );
  });
});
