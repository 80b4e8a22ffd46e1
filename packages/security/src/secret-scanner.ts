import { isAscii, isUtf8 } from 'node:buffer';
import RE2 from 're2';
import { InvalidRuleError } from './errors.js';
import { type Finding, type Severity, maskSecret } from './finding.js';
import { KeywordAutomaton } from './keyword-automaton.js';
import type { SecretAllowlist, SecretRule } from './secret-rule.js';

/** Shannon entropy of `text` in bits per character (code point). */
export function shannonEntropy(text: string): number {
  if (text.length === 0) return 0;
  const counts = new Map<string, number>();
  let n = 0;
  for (const ch of text) {
    counts.set(ch, (counts.get(ch) ?? 0) + 1);
    n++;
  }
  let h = 0;
  for (const c of counts.values()) {
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/** `text` as a regex matching it literally. */
function escapeLiteral(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/** Line starts of a text, found on demand up to the furthest offset asked about. */
class LineIndex {
  readonly #starts: number[] = [0];
  #complete = false;
  readonly #find: (from: number) => number;
  readonly #length: number;

  /** @param find the index of the next line break at or after `from`, or -1 */
  constructor(find: (from: number) => number, length: number) {
    this.#find = find;
    this.#length = length;
  }

  #more(): boolean {
    if (this.#complete) return false;
    const i = this.#find(this.#starts.at(-1)!);
    if (i < 0) this.#complete = true;
    else this.#starts.push(i + 1);
    return !this.#complete;
  }

  /** 0-based line of `offset`. */
  lineOf(offset: number): number {
    while (this.#starts.at(-1)! <= offset && this.#more());
    const starts = this.#starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Offset where line `index` starts (`index` must exist). */
  start(index: number): number {
    while (this.#starts.length <= index && this.#more());
    return this.#starts[index]!;
  }

  /** Offset of the line break ending line `index`, or the text's length for the last line. */
  end(index: number): number {
    while (this.#starts.length <= index + 1 && this.#more());
    return index + 1 < this.#starts.length ? this.#starts[index + 1]! - 1 : this.#length;
  }

  /** `index`, or the last line's index when the text has fewer lines. */
  clamp(index: number): number {
    while (this.#starts.length <= index && this.#more());
    return Math.min(index, this.#starts.length - 1);
  }

  /** Number of line breaks in the whole text. */
  count(): number {
    while (this.#more());
    return this.#starts.length - 1;
  }
}

interface CompiledAllowlist {
  readonly and: boolean;
  readonly target: 'secret' | 'match' | 'line';
  /** The list's regexes as one union (one native call per candidate), or undefined without regexes. */
  readonly regex: RE2 | undefined;
  /** The stopwords as one union over the lower-cased secret, or undefined without stopwords. */
  readonly stopwords: RE2 | undefined;
  /** The path patterns as one union, or undefined without paths. */
  readonly paths: RE2 | undefined;
}

interface CompiledRule {
  readonly rule: SecretRule;
  readonly regex: RE2 | undefined;
  /**
   * A cheaper pattern with a match on every line where `regex` has one (see {@link searchSource}),
   * used to find those lines when the rule runs over a whole chunk; `regex` then runs on them.
   */
  readonly search: RE2 | undefined;
  readonly path: RE2 | undefined;
  /** The regex can match across lines, so it runs over whole chunks instead of single lines. */
  readonly multiline: boolean;
  /**
   * The regex can cross a line break through a whitespace or negated class (`[\s'"]{0,3}` in
   * gitleaks' generated rules: `<fooToken>\n    secret\n</fooToken>`): run per line, it runs on
   * the keyword's line and the {@link crossLines} lines before and after it.
   */
  readonly crosses: boolean;
  /** A keyword need not be inside the match: a keyword hit makes the rule run over the whole chunk. */
  readonly contextual: boolean;
  readonly allowlists: readonly CompiledAllowlist[];
  readonly severity: Severity;
  readonly confidence: number;
}

function compile(ruleId: string, source: string, flags = ''): RE2 {
  try {
    return new RE2(source, flags);
  } catch (error) {
    throw new InvalidRuleError(ruleId, `rule ${JSON.stringify(ruleId)} has a regex RE2 cannot compile: ${JSON.stringify(source.slice(0, 200))}`, {
      cause: error,
    });
  }
}

function compileAllowlist(ruleId: string, list: SecretAllowlist): CompiledAllowlist {
  const regexes = list.regexes ?? [];
  // The union keeps inline flags such as `(?i)` inside each pattern's group; when it does not
  // compile, each pattern is compiled alone so the error names the one at fault.
  const union = (sources: readonly string[]): RE2 => {
    try {
      return new RE2(sources.map((r) => `(?:${r})`).join('|'));
    } catch (error) {
      for (const r of sources) compile(ruleId, r);
      throw new InvalidRuleError(ruleId, `rule ${JSON.stringify(ruleId)} has allow-list regexes RE2 cannot compile together`, { cause: error });
    }
  };
  const stopwords = (list.stopwords ?? []).map((w) => escapeLiteral(w.toLowerCase()));
  return {
    and: list.condition === 'AND',
    target: list.regexTarget ?? 'secret',
    regex: regexes.length > 0 ? union(regexes) : undefined,
    stopwords: stopwords.length > 0 ? compile(ruleId, stopwords.join('|')) : undefined,
    paths: (list.paths ?? []).length > 0 ? union(list.paths!) : undefined,
  };
}

/**
 * Whether a rule's regex is meant to span lines (a PEM block, a YAML document, a curl command
 * with continuation lines): those run over whole chunks, every other rule only on the lines
 * where one of its keywords occurs.
 */
function isMultiline(regex: string): boolean {
  return (
    regex.includes('[\\s\\S') ||
    regex.includes('(?s') ||
    regex.includes('[\\r\\n]') ||
    regex.includes('\\n]') ||
    regex.includes('-----BEGIN') ||
    /(?<!\\)\\n(?![r\]])/.test(regex)
  );
}

/**
 * `regex` without a leading lazy run of a character class that cannot match a line break
 * (`(?i)[\w.-]{0,50}?` opens gitleaks' generated rules), or undefined when it has none. The run
 * only moves where a match starts on its line, yet it multiplies the states of RE2's DFA: over
 * real source the pattern without it runs about three times faster. Every match of `regex`
 * contains a place where the shortened pattern matches, on the same line, so the lines it
 * finds hold every match of `regex`, which then runs on those lines alone.
 */
function searchSource(regex: string): string | undefined {
  const m = /^(\(\?[a-z]+\))?\[((?:\\[wd]|[\w.-])+)\]\{0,\d+\}\?/.exec(regex);
  if (!m) return undefined;
  const rest = regex.slice(m[0].length);
  // A quantifier or an alternation right after the run would change what the rest means.
  if (rest.length === 0 || /^[*+?{|)]/.test(rest)) return undefined;
  return (m[1] ?? '') + rest;
}

/**
 * Literal spellings of `regex` for the keyword check: small alternation groups, optional groups
 * and small character classes expanded (up to 256 variants), anything else a separator.
 */
function spellings(regex: string): string[] {
  let out = [''];
  const add = (options: readonly string[]): void => {
    const next = out.flatMap((prefix) => options.map((o) => prefix + o));
    out = next.length > 256 ? out.map((prefix) => `${prefix}\u0000`) : next;
  };
  const source = regex.replace(/\(\?-?i\)/g, '').toLowerCase();
  for (let i = 0; i < source.length;) {
    const rest = source.slice(i);
    const group = /^\((?:\?(?:-?i)?:)?([\w|.-]*)\)(\?)?/.exec(rest);
    const cls = /^\[([\w-]{1,4})\](\?)?/.exec(rest);
    const escaped = /^\\([^\w])/.exec(rest);
    if (group) {
      add([...group[1]!.split('|'), ...(group[2] ? [''] : [])]);
      i += group[0].length;
    } else if (cls && !cls[1]!.slice(1, -1).includes('-')) {
      add([...cls[1]!, ...(cls[2] ? [''] : [])]);
      i += cls[0].length;
    } else if (escaped) {
      add([escaped[1]!]);
      i += 2;
    } else if (/[\w.-]/.test(source[i]!)) {
      // A character that may be absent (`a?`, `a*`, `a{0,3}`) is spelled with and without it.
      add(/^[?*]|^\{0[,}]/.test(source.slice(i + 1, i + 4)) ? [source[i]!, ''] : [source[i]!]);
      i++;
    } else {
      add(['\u0000']);
      i += source[i] === '\\' ? 2 : 1;
    }
  }
  return out;
}

/**
 * Whether some keyword of `rule` need not be part of a match (`airtable` for a bare `pat...`
 * token): gitleaks then applies the rule to the whole text once the keyword occurs anywhere.
 */
function keywordOutsideMatch(rule: SecretRule): boolean {
  if (!rule.regex) return false;
  const variants = spellings(rule.regex);
  return rule.keywords.some((k) => !variants.some((v) => v.includes(k.toLowerCase())));
}

function severityOf(rule: SecretRule): Severity {
  if (rule.severity) return rule.severity;
  if (/private-key|aws-access|gcp-service|azure-ad-client-secret|hashicorp-tf-password/.test(rule.id)) return 'critical';
  if (rule.id.startsWith('generic')) return 'medium';
  return 'high';
}

/**
 * Results of line-targeted allow-list regexes for the line last asked about: a long line with
 * many candidates (minified code, one-line JSON) is tested once per list, not once per candidate.
 */
type LineMemo = Map<CompiledAllowlist, { readonly index: number; readonly hit: boolean }>;

/** A candidate is allowed (suppressed) by `list`. */
function allows(list: CompiledAllowlist, secret: string, match: string, line: string, lineIndex: number, memo: LineMemo, path: string | undefined): boolean {
  let any = false;
  let all = true;
  const check = (hit: boolean): void => {
    any ||= hit;
    all &&= hit;
  };
  if (list.regex) {
    if (list.target === 'line') {
      const known = memo.get(list);
      if (known?.index === lineIndex) check(known.hit);
      else {
        const hit = list.regex.test(line);
        memo.set(list, { index: lineIndex, hit });
        check(hit);
      }
    } else check(list.regex.test(list.target === 'secret' ? secret : match));
  }
  if (list.stopwords) check(list.stopwords.test(secret.toLowerCase()));
  if (list.paths) check(path !== undefined && list.paths.test(path));
  if (!list.regex && !list.stopwords && !list.paths) return false;
  return list.and ? all : any;
}

/** Where findings of one chunk are placed, and the chunk's allow-list memo. */
interface Where {
  readonly lineStart: (index: number) => number;
  readonly lineOffset: number;
  readonly offsetBase: number;
  readonly path: string | undefined;
  readonly memo: LineMemo;
}

/**
 * How many line breaks before or after a keyword's line a match of a rule that crosses lines may reach
 * (gitleaks' generated rules allow up to 8 whitespace characters between key and value).
 */
const crossLines = 8;

/** Chunks under this many bytes run a rule over the whole chunk once it has a few candidate lines. */
const smallChunk = 64 * 1024;

/** Thrown inside a scan when its deadline passed; caught by `scanChunk`. */
const outOfTime = new Error('time budget spent');

/** Options shared by every scan. */
export interface SecretScanOptions {
  /** Path reported in findings and matched by path rules and allow-lists (forward slashes). */
  readonly path?: string;
}

/** A compiled set of rules. Build one and reuse it: compiling ~220 RE2 patterns takes milliseconds. */
export class SecretScanner {
  readonly #rules: CompiledRule[] = [];
  readonly #byKeyword = new Map<string, CompiledRule[]>();
  /** Rules without a content pattern, reported on a matching file name. */
  readonly #pathOnly: CompiledRule[] = [];
  readonly #always: CompiledRule[] = [];
  /** Finds every keyword occurrence in one pass. */
  readonly #automaton: KeywordAutomaton;
  /** The rules of each of the automaton's keywords, by its index. */
  readonly #keywordRules: readonly (readonly CompiledRule[])[];
  readonly #global: readonly CompiledAllowlist[];

  /**
   * @param rules the rules (see `defaultSecretRules`)
   * @param globalAllowlists allow-lists applied to every rule (see `defaultGlobalAllowlists`)
   * @throws InvalidRuleError when a rule's regex does not compile under RE2
   */
  constructor(rules: readonly SecretRule[], globalAllowlists: readonly SecretAllowlist[] = []) {
    for (const rule of rules) {
      const multiline = rule.regex !== undefined && isMultiline(rule.regex);
      if (!rule.regex && !rule.path) throw new InvalidRuleError(rule.id, `rule ${JSON.stringify(rule.id)} has neither regex nor path`);
      const compiled: CompiledRule = {
        rule,
        // A rule that does not span lines runs on single lines or on whole chunks: `^` and `$`
        // match at line ends, so both mean the same.
        regex: rule.regex ? compile(rule.id, rule.regex, multiline ? 'g' : 'gm') : undefined,
        search: rule.regex && !multiline && searchSource(rule.regex) !== undefined ? compile(rule.id, searchSource(rule.regex)!, 'gm') : undefined,
        path: rule.path ? compile(rule.id, rule.path) : undefined,
        multiline,
        crosses: rule.regex !== undefined && /\\s|\[\^/.test(rule.regex),
        contextual: keywordOutsideMatch(rule),
        allowlists: (rule.allowlists ?? []).map((a) => compileAllowlist(rule.id, a)),
        severity: severityOf(rule),
        confidence: rule.id.startsWith('generic') ? 0.5 : rule.entropy !== undefined ? 0.9 : 0.8,
      };
      this.#rules.push(compiled);
      if (!rule.regex) {
        this.#pathOnly.push(compiled);
        continue;
      }
      if (rule.keywords.length === 0 || rule.keywords.includes('')) this.#always.push(compiled);
      for (const k of rule.keywords.filter((k) => k !== '')) {
        const key = k.toLowerCase();
        const list = this.#byKeyword.get(key) ?? [];
        list.push(compiled);
        this.#byKeyword.set(key, list);
      }
    }
    // A keyword that every rule using it needs at a word start (`\bey` for JWTs) only counts
    // there: `ey` inside `key` would otherwise make the JWT rule a candidate on most lines.
    const keywords = [...this.#byKeyword.keys()];
    const wordStart = keywords.map((key) =>
      this.#byKeyword.get(key)!.every((c) => {
        const source = c.rule.regex!.replace(/^\(\?i\)/, '');
        if (!source.startsWith('\\b')) return false;
        const rest = source.slice(2).replace(/^\((?:\?:)?/, '');
        return rest.toLowerCase().startsWith(escapeLiteral(key)) && /^[a-z0-9_]/.test(key);
      }),
    );
    this.#automaton = new KeywordAutomaton(keywords, wordStart);
    this.#keywordRules = keywords.map((key) => this.#byKeyword.get(key)!);
    this.#global = globalAllowlists.map((a) => compileAllowlist('global', a));
  }

  /** Number of rules. */
  get size(): number {
    return this.#rules.length;
  }

  /** Findings of path-only rules (e.g. a `.p12` file) and whether global allow-lists exclude the path. */
  pathFindings(path: string): { excluded: boolean; findings: Finding[] } {
    const excluded = this.#global.some((g) => g.paths !== undefined && !g.regex && !g.stopwords && g.paths.test(path));
    const findings: Finding[] = [];
    for (const c of this.#pathOnly) {
      if (!c.path!.test(path)) continue;
      findings.push({
        ruleId: c.rule.id,
        category: c.rule.category ?? 'secrets_exposure',
        severity: c.severity,
        confidence: c.confidence,
        message: c.rule.description,
        location: { path },
      });
    }
    return { excluded, findings };
  }

  /**
   * Scans `text` (a whole string, or one chunk of a stream) and returns findings with 1-based
   * lines and columns. `lineOffset` / `offsetBase` shift locations for chunks; `tail` is text
   * just before the chunk that multi-line rules may start in (matches wholly inside it are
   * dropped, since the previous chunk reported them).
   */
  scanText(text: string, options: SecretScanOptions & { lineOffset?: number; offsetBase?: number; tail?: string } = {}): Finding[] {
    return this.scanChunk(text, options).findings;
  }

  /**
   * {@link scanText} for streams: takes the chunk as a string or as the bytes read (decoded as
   * UTF-8, invalid sequences as U+FFFD), and also returns how many line breaks it holds (the
   * next chunk's `lineOffset` grows by that; -1 when `countLines` is false, for a last chunk)
   * and its length in UTF-16 units (the next chunk's `offsetBase` grows by that).
   *
   * With `deadline` (a `performance.now()` time), the scan stops once past it and returns
   * `timedOut: true` with the findings made so far: the chunk was not fully scanned.
   */
  scanChunk(
    input: string | Buffer,
    options: SecretScanOptions & { lineOffset?: number; offsetBase?: number; tail?: string; countLines?: boolean; deadline?: number } = {},
  ): { findings: Finding[]; lineBreaks: number; length: number; timedOut?: true } {
    const findings: Finding[] = [];
    const deadline = options.deadline;
    let ticks = 0;
    // The clock is read every 64 steps (a step being a keyword hit, a match or a rule run).
    const tick =
      deadline === undefined
        ? (): void => undefined
        : (): void => {
            if ((++ticks & 63) === 0 && performance.now() > deadline) throw outOfTime;
          };
    try {
      return this.#scanChunk(input, options, findings, tick);
    } catch (error) {
      if (error !== outOfTime) throw error;
      findings.sort((a, b) => (a.location!.offset ?? 0) - (b.location!.offset ?? 0));
      return { findings, lineBreaks: -1, length: -1, timedOut: true };
    }
  }

  #scanChunk(
    input: string | Buffer,
    options: SecretScanOptions & { lineOffset?: number; offsetBase?: number; tail?: string; countLines?: boolean },
    findings: Finding[],
    tick: () => void,
  ): { findings: Finding[]; lineBreaks: number; length: number } {
    if (input.length === 0) return { findings, lineBreaks: 0, length: 0 };
    const path = options.path;
    // RE2 runs on one UTF-8 copy of the chunk (a JS string would be converted again by every
    // regex object it is passed to). Bytes as read are used as they are when they are valid
    // UTF-8; an ASCII chunk is never decoded whole, only the lines with hits.
    let decoded: string | undefined = typeof input === 'string' ? input : undefined;
    let buf: Buffer;
    if (typeof input === 'string') buf = Buffer.from(input, 'utf8');
    else if (isAscii(input) || isUtf8(input)) buf = input;
    else buf = Buffer.from((decoded = input.toString('utf8')), 'utf8');
    const ascii = decoded === undefined ? isAscii(buf) : buf.length === decoded.length;
    const text = (): string => (decoded ??= buf.toString(ascii ? 'latin1' : 'utf8'));
    // Short ASCII lines are copied out of the bytes; anything longer comes from the decoded chunk,
    // whose slices share memory (a long line with many matches must not be copied per match).
    const slice = (from: number, to: number): string =>
      ascii && decoded === undefined && to - from < 4096 ? buf.toString('latin1', from, to) : text().slice(from, to);
    const length = ascii ? buf.length : text().length;
    // Line starts in bytes and in UTF-16 units (the same for ASCII), found only as far as a
    // hit needs: most chunks have few hits, and a newline scan costs as much as a regex pass.
    const bl = new LineIndex((from) => buf.indexOf(10, from), buf.length);
    const cl = ascii ? bl : new LineIndex((from) => text().indexOf('\n', from), length);
    const lineBreaks = (): number => (options.countLines === false ? -1 : bl.count());
    if (this.#keywordRules.length === 0 && this.#always.length === 0) return { findings, lineBreaks: lineBreaks(), length };
    const lineOf = (offset: number): number => cl.lineOf(offset);
    const lineText = (index: number): string => slice(cl.start(index), cl.end(index));
    // Byte offset to UTF-16 offset, decoding from the last offset asked about when it is on the
    // same line and not after this one (matches come in order: a long line is decoded once).
    let lastByte = -1;
    let lastChar = 0;
    let lastLineEndByte = -1;
    const charOffset = (byteOffset: number): number => {
      if (ascii) return byteOffset;
      if (lastByte >= 0 && byteOffset >= lastByte && byteOffset <= lastLineEndByte) {
        lastChar += buf.toString('utf8', lastByte, byteOffset).length;
      } else {
        const line = bl.lineOf(byteOffset);
        lastLineEndByte = bl.end(line);
        lastChar = cl.start(line) + buf.toString('utf8', bl.start(line), byteOffset).length;
      }
      lastByte = byteOffset;
      return lastChar;
    };

    // Keyword pre-filter: which rules could match, and on which lines. One pass of the keyword
    // automaton over the bytes lists every keyword occurrence; a keyword seen on more than
    // `frequentAt` lines makes its rules run over the whole chunk.
    const candidates = new Map<CompiledRule, Set<number> | 'all'>();
    // Lines of candidate per-line work above which one whole-chunk pass is cheaper.
    const frequentAt = Math.max(32, Math.min(256, buf.length >> 12));
    // Candidate lines of one rule above which it runs over the whole chunk instead: on a small
    // chunk a pass over all of it costs about as much as a few native calls on single lines.
    const wideAt = buf.length < smallChunk ? 4 : frequentAt;
    const applies = (rule: CompiledRule): boolean => !rule.path || (path !== undefined && rule.path.test(path));
    const keywordLines = new Map<number, Set<number> | 'all'>();
    let lineStart = -1;
    let lineEnd = -1;
    let line = -1;
    this.#automaton.scan(buf, (keyword, end) => {
      tick();
      let lines = keywordLines.get(keyword);
      if (lines === 'all') return;
      if (end < lineStart || end >= lineEnd) {
        line = bl.lineOf(end);
        lineStart = bl.start(line);
        lineEnd = bl.end(line) + 1;
      }
      if (!lines) keywordLines.set(keyword, (lines = new Set()));
      lines.add(line);
      if (lines.size > frequentAt) keywordLines.set(keyword, 'all');
    });
    for (const [keyword, lines] of keywordLines) {
      for (const rule of this.#keywordRules[keyword]!) {
        if (!applies(rule)) continue;
        const known = candidates.get(rule);
        if (known === 'all') continue;
        if (lines === 'all' || rule.contextual) {
          candidates.set(rule, 'all');
          continue;
        }
        if (!known) candidates.set(rule, new Set(lines));
        else for (const l of lines) known.add(l);
      }
    }
    if (options.tail) {
      // A multi-line secret may have started in the previous chunk, keyword included.
      this.#automaton.scan(Buffer.from(options.tail, 'utf8'), (keyword) => {
        for (const rule of this.#keywordRules[keyword]!) if (rule.multiline && applies(rule) && !candidates.has(rule)) candidates.set(rule, new Set());
      });
    }
    for (const rule of this.#always) candidates.set(rule, 'all');

    const lineOffset = options.lineOffset ?? 0;
    const offsetBase = options.offsetBase ?? 0;
    const where: Where = { lineStart: (index: number) => cl.start(index), lineOffset, offsetBase, path, memo: new Map() };
    const wide: CompiledRule[] = [];
    /** Runs `rule` over lines `from` to `to` of the chunk (as one string). */
    const onLines = (rule: CompiledRule, from: number, to: number): void => {
      const regex = rule.regex!;
      const base = cl.start(from);
      const subject = slice(base, cl.end(to));
      regex.lastIndex = 0;
      for (let m = regex.exec(subject); m; m = regex.exec(subject)) {
        tick();
        if (m[0].length === 0) {
          regex.lastIndex++;
          continue;
        }
        const index = from === to ? from : lineOf(base + m.index);
        this.#consider(rule, m, base + m.index, index, from === to ? subject : lineText(index), findings, where);
      }
    };
    /** Runs `rule` on `lines` (ascending), and on the lines around each when its matches can cross lines. */
    const onSortedLines = (rule: CompiledRule, lines: readonly number[]): void => {
      if (!rule.crosses) {
        for (const index of lines) onLines(rule, index, index);
        return;
      }
      // Each line and the lines around it, as disjoint ranges.
      let from = -1;
      let to = -1;
      for (const index of lines) {
        if (from >= 0 && index - crossLines <= to + 1) to = cl.clamp(index + crossLines);
        else {
          if (from >= 0) onLines(rule, from, to);
          from = Math.max(0, index - crossLines);
          to = cl.clamp(index + crossLines);
        }
      }
      if (from >= 0) onLines(rule, from, to);
    };
    for (const [rule, lines] of candidates) {
      tick();
      const regex = rule.regex!;
      if (rule.multiline) {
        const tail = options.tail ?? '';
        const subject = tail + text();
        regex.lastIndex = 0;
        for (let m = regex.exec(subject); m; m = regex.exec(subject)) {
          tick();
          tick();
          if (m[0].length === 0) {
            regex.lastIndex++;
            continue;
          }
          const end = m.index + m[0].length;
          if (end <= tail.length) continue;
          if (m.index >= tail.length) {
            const at = m.index - tail.length;
            this.#consider(rule, m, at, lineOf(at), lineText(lineOf(at)), findings, where);
          } else {
            // Started in the previous chunk: locate it there (lines before this chunk's first).
            let back = 0;
            for (let i = subject.indexOf('\n', m.index); i >= 0 && i < tail.length; i = subject.indexOf('\n', i + 1)) back++;
            const lineStart = subject.lastIndexOf('\n', m.index - 1) + 1;
            this.#consider(rule, m, m.index, 0, subject.slice(lineStart, Math.max(lineStart, subject.indexOf('\n', m.index))), findings, {
              lineStart: () => lineStart,
              lineOffset: lineOffset - back,
              offsetBase: offsetBase - tail.length,
              path,
              memo: new Map(),
            });
          }
        }
        continue;
      }
      // Many candidate lines: one RE2 pass over the chunk's bytes beats a native call per line.
      if (lines === 'all' || lines.size > wideAt) wide.push(rule);
      else
        onSortedLines(
          rule,
          [...lines].sort((a, b) => a - b),
        );
    }
    /** One rule over the whole chunk's bytes. */
    const overChunk = (rule: CompiledRule): void => {
      const regex = rule.regex!;
      regex.lastIndex = 0;
      for (let m = regex.exec(buf as unknown as string); m; m = regex.exec(buf as unknown as string)) {
        tick();
        const whole = m[0] as unknown as Buffer;
        if (whole.length === 0) {
          regex.lastIndex++;
          continue;
        }
        // Back to the string's terms (UTF-16 offsets, string groups) for the shared checks.
        const at = charOffset(m.index);
        const match = Object.assign(
          Array.from(m, (g) => (g === undefined ? undefined : (g as unknown as Buffer).toString('utf8'))),
          { index: at },
        ) as unknown as RegExpExecArray;
        const index = lineOf(at);
        this.#consider(rule, match, at, index, lineText(index), findings, where);
      }
    };
    /**
     * A rule with a cheaper search pattern over the whole chunk: one pass of it lists the lines
     * that can hold a match (line numbers are the same in bytes and in UTF-16 units), and the
     * rule runs on those lines.
     */
    const throughSearch = (rule: CompiledRule): void => {
      const search = rule.search!;
      const lines: number[] = [];
      search.lastIndex = 0;
      for (let m = search.exec(buf as unknown as string); m; m = search.exec(buf as unknown as string)) {
        tick();
        const length = (m[0] as unknown as Buffer).length;
        if (length === 0) {
          search.lastIndex++;
          continue;
        }
        const last = bl.lineOf(m.index + length - 1);
        for (let line = Math.max(bl.lineOf(m.index), (lines.at(-1) ?? -1) + 1); line <= last; line++) lines.push(line);
      }
      onSortedLines(rule, lines);
    };
    wide.sort((a, b) => (a.rule.id < b.rule.id ? -1 : 1));
    for (const rule of wide) (rule.search ? throughSearch : overChunk)(rule);
    findings.sort((a, b) => (a.location!.offset ?? 0) - (b.location!.offset ?? 0));
    return { findings, lineBreaks: lineBreaks(), length };
  }

  #consider(c: CompiledRule, m: RegExpExecArray, offset: number, lineIndex: number, line: string, findings: Finding[], where: Where): void {
    const rule = c.rule;
    let secret: string | undefined;
    let secretIndex = m.index;
    if (rule.secretGroup !== undefined) secret = m[rule.secretGroup];
    else {
      for (let g = 1; g < m.length; g++) {
        if (m[g]) {
          secret = m[g];
          break;
        }
      }
    }
    // A pattern ending in `(?:[^\w]|\z)` takes the line break after a secret at a line end.
    if (secret === undefined) {
      let end = m[0].length;
      while (end > 0 && (m[0].charCodeAt(end - 1) === 10 || m[0].charCodeAt(end - 1) === 13)) end--;
      secret = m[0].slice(0, end);
    }
    if (secret !== m[0]) {
      const within = m[0].indexOf(secret);
      if (within >= 0) secretIndex = m.index + within;
    }
    if (rule.entropy !== undefined && shannonEntropy(secret) < rule.entropy) return;
    // Placeholders (`xxxxxxxx`, `00000000`, `abababab`) are never secrets.
    if (new Set(secret).size <= 2) return;
    for (const list of c.allowlists) if (allows(list, secret, m[0], line, lineIndex, where.memo, where.path)) return;
    for (const list of this.#global) if ((list.regex || list.stopwords) && allows(list, secret, m[0], line, lineIndex, where.memo, where.path)) return;
    const start = offset + (secretIndex - m.index);
    // A match may start on an earlier line than its secret (`(?:^|\s)` takes the line break
    // before it): the secret's own line and column are reported.
    const lead = m[0].slice(0, secretIndex - m.index);
    const lastBreak = lead.lastIndexOf('\n');
    let secretLine = lineIndex;
    for (let i = lead.indexOf('\n'); i >= 0; i = lead.indexOf('\n', i + 1)) secretLine++;
    const column = lastBreak < 0 ? start - where.lineStart(lineIndex) + 1 : lead.length - lastBreak;
    findings.push({
      ruleId: rule.id,
      category: rule.category ?? 'secrets_exposure',
      severity: c.severity,
      confidence: c.confidence,
      message: rule.description,
      location: {
        ...(where.path !== undefined ? { path: where.path } : {}),
        line: secretLine + 1 + where.lineOffset,
        column,
        offset: where.offsetBase + start,
      },
      match: maskSecret(secret),
    });
  }
}
