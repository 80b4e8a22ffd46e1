/** Options of {@link sanitizeForTerminal}. */
export interface SanitizeForTerminalOptions {
  /**
   * Keep plain colour and style sequences (`ESC [ <digits;...> m`, SGR), which only change how
   * text looks. Every other sequence is still removed. Default false.
   */
  readonly colors?: boolean | undefined;
}

const ESC = 0x1b;
const BEL = 0x07;
// C1 controls that open a sequence (8-bit forms of ESC [, ESC ], ESC P, ESC X, ESC ^, ESC _) and the 8-bit string terminator.
const C1_CSI = 0x9b;
const C1_OSC = 0x9d;
const C1_STRINGS = new Set([0x90, 0x98, 0x9e, 0x9f]);
const C1_ST = 0x9c;
/** Second bytes after ESC that open a control string ended by ST: OSC `]`, DCS `P`, SOS `X`, PM `^`, APC `_`. */
const ESC_STRINGS = new Set([0x5d, 0x50, 0x58, 0x5e, 0x5f]);
/** Bidirectional overrides and isolates: they reorder what is shown without changing what is there. */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
/** What follows ESC in a plain colour or style sequence (SGR). */
const SGR = /^\[[0-9;:]*m$/;

/**
 * Makes untrusted text (tool output, file content, model text) safe to print to a terminal:
 * removes every escape sequence, so nothing a command printed can drive the terminal (OSC 52
 * clipboard writes, window title sets, screen clears and cursor moves, hyperlinks, device
 * queries, a full reset), and shows the remaining control characters visibly (`^M`, `^H`, `^G`,
 * `<U+0085>`, `<U+202E>`) instead of letting them act: a lone carriage return or a backspace
 * could otherwise print one thing over another. Newlines and tabs stay; `\r\n` becomes `\n`.
 * An unterminated control string is removed to the end, as a terminal would swallow it. Pure.
 *
 * @example
 * ```ts
 * sanitizeForTerminal('ok\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J done\n'); // 'ok done\n'
 * ```
 */
export function sanitizeForTerminal(text: string, options: SanitizeForTerminalOptions = {}): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c !== 0x7f && (c < 0x80 || c > 0x9f) && !BIDI.test(text[i]!)) {
      // Copy the run of ordinary characters in one slice.
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d < 0x20 || d === 0x7f || (d >= 0x80 && d <= 0x9f) || BIDI.test(text[j]!)) break;
        j++;
      }
      out += text.slice(i, j);
      i = j;
      continue;
    }
    if (c === 0x0a || c === 0x09) {
      out += text[i];
      i++;
      continue;
    }
    if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) {
      i++;
      continue;
    }
    if (c === ESC || c === C1_CSI || c === C1_OSC || C1_STRINGS.has(c)) {
      const end = sequenceEnd(text, i);
      if (options.colors === true && c === ESC && SGR.test(text.slice(i + 1, end))) out += text.slice(i, end);
      i = end;
      continue;
    }
    out += visible(c);
    i++;
  }
  return out;
}

/** Index just past the escape sequence starting at `start` (ECMA-48 shapes; malformed ones end where they stop fitting). */
function sequenceEnd(text: string, start: number): number {
  const n = text.length;
  const c = text.charCodeAt(start);
  let i = start + 1;
  let kind: 'csi' | 'string' | 'esc';
  if (c === C1_CSI) kind = 'csi';
  else if (c === C1_OSC || C1_STRINGS.has(c)) kind = 'string';
  else {
    if (i >= n) return n;
    const second = text.charCodeAt(i);
    if (second === 0x5b) {
      kind = 'csi';
      i++;
    } else if (ESC_STRINGS.has(second)) {
      kind = 'string';
      i++;
    } else kind = 'esc';
  }
  if (kind === 'csi') {
    // Parameter bytes, intermediate bytes, one final byte.
    while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x3f) i++;
    while (i < n && text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) <= 0x2f) i++;
    if (i < n && text.charCodeAt(i) >= 0x40 && text.charCodeAt(i) <= 0x7e) i++;
    return i;
  }
  if (kind === 'string') {
    // Ends at BEL (xterm's OSC terminator), ESC \ or the 8-bit ST; unterminated: the rest of the text.
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === BEL || d === C1_ST) return i + 1;
      if (d === ESC) return text.charCodeAt(i + 1) === 0x5c ? i + 2 : i;
      i++;
    }
    return n;
  }
  // ESC, intermediates, one final byte (ESC c, ESC 7, ESC ( B, ...).
  while (i < n && text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) <= 0x2f) i++;
  if (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x7e) i++;
  return i;
}

function visible(code: number): string {
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return '^?';
  return `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
}
