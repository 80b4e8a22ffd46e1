import type { SecretScanner } from './secret-scanner.js';
import { credentialArguments, isPasswordProgram } from './argv-mask.js';
import { isRecordKey, isSensitiveKey, isSensitiveListKey } from './sensitive-names.js';
import { tokenFormats } from './token-formats.js';

/** Options of {@link redact}. */
export interface RedactOptions {
  /** Longest string kept, in UTF-8 bytes (default 16 KiB); longer ones are cut at a code-point boundary, after redaction, and marked. */
  readonly maxStringBytes?: number;
  /** Deepest nesting kept for objects (default 32); deeper values become a marker. */
  readonly maxDepth?: number;
  /** Most keys or items kept per object or array (default 1000). */
  readonly maxEntries?: number;
  /** Also run this secret scanner's rules over strings (slower; catches every ported provider format). */
  readonly scanner?: SecretScanner;
  /** Replacement text (default `[REDACTED]`). */
  readonly marker?: string;
  /**
   * Most values (objects, arrays, strings, numbers, ...) in the output (default 20,000), counted
   * as if shared subobjects were copied; past it values become `[Truncated: budget]`. It bounds
   * both the walk and the size of the output when serialised, whatever the input's shape.
   */
  readonly maxNodes?: number;
}

const defaultMarker = '[REDACTED]';
const keyMarker = '[REDACTED PRIVATE KEY]';

/**
 * A part of the text to replace. `open` means it may continue past the end of the text
 * (streaming holds it back); `from` is where the match that found it begins (the name before an
 * assignment's value, a block scalar's head line), which a stream must still see to find it again.
 */
interface Span {
  start: number;
  end: number;
  from: number;
  privateKey?: boolean;
  open?: boolean;
}

// Every pattern is linear for V8's backtracking engine: bounded repeats, no nested or adjacent
// overlapping quantifiers; the tests time them on pattern-bomb input. Each has the `d` flag so
// the secret's own group gives the span, and the name or scheme before it stays readable.
const authorizationHeader =
  /\b(?:proxy-)?authorization["']?[ \t]{0,8}[:=][ \t]{0,8}(?:["'][ \t]{0,8})?(?:(?:bearer|basic|token|digest|negotiate|apikey|sso-key)[ \t]{1,8})?([^\r\n"']{1,4096})/dgi;
const cookieHeader = /\b(?:set-)?cookie["']?[ \t]{0,8}:[ \t]{0,8}(?:["'][ \t]{0,8})?([^\r\n"']{1,4096})/dgi;
const bearer = /\bbearer[ \t]{1,8}([A-Za-z0-9\-._~+/]{8,4096}=*)/dgi;
const basic = /\bbasic[ \t]{1,8}([A-Za-z0-9+/]{8,4096}={0,2})/dgi;
/** `scheme://user:password@host`: the password runs to the last `@` of the authority (an unencoded `@` or `/` in it included). */
const urlUserinfo = /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:@/]{0,256}:([^\s/]{1,256}(?:\/[^\s@/]{1,64}){0,4})@/dgi;
const queryParam =
  /[?&;](?:access_token|refresh_token|id_token|token|api_key|apikey|key|secret|password|passwd|pwd|sig|signature|client_secret|auth|x-amz-signature|x-amz-security-token|x-goog-signature|code_verifier)=([^&#\s"'<>]{1,4096})/dgi;
/** Candidate names; {@link isSensitiveKey} decides (`XPASS`, `DEPLOY_CRED`, `STRIPE_KEY` yes, `sort_key`, `PWD` no). */
/** The words an assignment's name must contain; {@link assignmentKeyword} and {@link sessionKeyword} precheck the same list. */
const ASSIGNMENT_WORDS = 'pass|secret|token|key|cred|auth|pwd|pat|cookie';
const SESSION_WORDS = 'sess|sid\\b';
const assignmentName = `[A-Za-z0-9_.-]{0,64}(?:${ASSIGNMENT_WORDS}|${SESSION_WORDS})[A-Za-z0-9_.-]{0,32}`;
/**
 * Where an assignment's name may start: a word boundary, or inside a longer name after a `_`
 * or at a camel-case hump, so that a name with more than 64 characters before its keyword
 * (`MY_..._API_KEY`) is still found by its end; {@link nameBefore} then gives the whole name to
 * judge. There is at most one start per character, each bounded, so the scan stays linear.
 */
const nameStart = '(?:\\b|(?<=_)|(?-i:(?<=[a-z0-9])(?=[A-Z])))';
/** `KEY="value with spaces"`: the value runs to its closing quote (or the line end); `\\"` inside a double-quoted value does not end it. */
const quotedAssignment = new RegExp(
  `${nameStart}(${assignmentName})["']?[ \\t]{0,8}(?:=|:|=>)[ \\t]{0,8}(?:"((?:[^"\\\\\\r\\n]|\\\\[^\\r\\n]){1,4096})|'([^'\\r\\n]{1,4096})|\`([^\`\\r\\n]{1,4096}))`,
  'dgi',
);
/** JSON inside a JSON string, at any escaping depth: `{\\"password\\":\\"x\\"}`; the value runs to the next escaped quote. */
const escapedAssignment = new RegExp(`${nameStart}(${assignmentName})\\\\{1,16}"[ \\t]{0,8}[:=][ \\t]{0,8}\\\\{1,16}"([^"\\r\\n]{1,4096}?)\\\\{1,16}"`, 'dgi');
/** `KEY=value`, `key: value`: the value runs to whitespace or punctuation (`$` may open it: `$ecr3t` is a value, `$VAR` a reference). */
const bareAssignment = new RegExp(
  `${nameStart}(${assignmentName})["']?[ \\t]{0,8}(?:=|:|=>)[ \\t]{0,8}([^\\s"'\`,;&}{[)(<>\\\\](?:[^\\s"'\`,;&}{)(<>\\\\]|\\\\(?![nrt"\\\\])){0,4095})`,
  'dgi',
);
/** A YAML block scalar under a sensitive name (`password: |`, `private_key: >-`): its indented lines are the value. */
const blockScalarHead = new RegExp(
  `^([ \\t]{0,256})(?:- {1,8})?["']?(${assignmentName})["']?[ \\t]{0,8}:[ \\t]{0,8}[|>][-+0-9]{0,3}[ \\t]{0,256}(?:#[^\\r\\n]{0,4096})?\\r?$`,
  'dgim',
);
/** Every keyword an assignment name must contain (the alternation of {@link assignmentName}): the assignment patterns run only if one occurs. */
const assignmentKeyword = new RegExp(ASSIGNMENT_WORDS, 'i');
const sessionWord = new RegExp(SESSION_WORDS, 'gi');
/** What may come before or after a name in an assignment (the characters of {@link assignmentName}). */
const nameChar = /[A-Za-z0-9_.-]/;

/**
 * True when `text` has a session word that can name a secret: `session`, `JSESSIONID`,
 * `PHPSESSID`, `connect.sid`, but not a whole `sessionId`, `session_id` or `sessionID` (the
 * attribution id, never sensitive), which Buckley's own output is full of and which alone needs
 * no assignment scan.
 */
function sessionKeyword(text: string): boolean {
  sessionWord.lastIndex = 0;
  for (let m = sessionWord.exec(text); m !== null; m = sessionWord.exec(text)) {
    const at = m.index;
    const name = text.startsWith('session_id', at) ? 10 : text.startsWith('sessionId', at) || text.startsWith('sessionID', at) ? 9 : 0;
    const whole = name > 0 && (at === 0 || !nameChar.test(text[at - 1]!)) && (at + name === text.length || !nameChar.test(text[at + name]!));
    if (!whole) return true;
    sessionWord.lastIndex = at + name;
  }
  return false;
}
/** A `:` followed by a block-scalar indicator, which every {@link blockScalarHead} match contains. */
const blockScalarMarker = /:[ \t]{0,8}[|>]/;
const jwt = /\beyJ[A-Za-z0-9_-]{8,2048}\.eyJ[A-Za-z0-9_-]{4,4096}\.[A-Za-z0-9_-]{0,2048}/g;
const privateKeyBegin = /-{4,5} ?BEGIN ([A-Z0-9 ]{1,60}?) ?-{4,5}/g;
const privateKeyEnd = /-{4,5} ?END [A-Z0-9 ]{1,60}?-{4,5}/g;
/** What a PEM body (headers such as `Proc-Type: 4,ENCRYPTED` included) is made of, also with `\n` escapes. */
const pemBody = /[A-Za-z0-9+/=\s:,.\\-]{0,1048576}/y;
const base64Run = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,4096}={0,2}/g;
/** Characters a token continues with; a format's match is extended over them. */
const tokenChar = /[A-Za-z0-9_\-+=]/;

/**
 * A keep check for the assignment patterns that judges the whole name: a match that starts
 * inside a longer name (see {@link nameStart}) is extended back to the name's start, but never
 * before the end of the previous match, so each character is looked at once per pass.
 */
function sensitiveName(text: string, judge: (value: string) => boolean): (m: RegExpExecArray, value: string) => boolean {
  let floor = 0;
  return (m, value) => {
    let start = m.index;
    while (start > floor && nameChar.test(text[start - 1]!)) start--;
    floor = m.index + m[0].length;
    return isSensitiveKey(text.slice(start, m.index) + m[1]!) && judge(value);
  };
}

/** Values that name where a secret is, not the secret: `process.env.DB_PASSWORD`, `os.environ[...]`, `${VAR}`. */
const reference =
  /^(?:process\.env\b|import\.meta\.env\b|os\.environ\b|os\.getenv\b|getenv\b|System\.getenv\b|ENV\[|env\(|env\.|\$[{(]|[|>][-+0-9]{0,3}$|%[A-Za-z_]+%$|secrets\.|vars\.|config\.|settings\.|\[REDACTED|\*{3,}$|<[^>]*>$|(?:null|undefined|none|nil|true|false|required|optional|string|number|boolean)$)/i;
/** `$VAR`, `$DB_PASSWORD`, `$dbPassword` (and a lone `$` before `{` or `(`) name a variable; `$ecr3tV4l` or `$2b$10$...` is a value. Case-sensitive. */
const dollarReference = /^\$(?:[A-Z_][A-Z0-9_]{0,127}|[a-z_][A-Za-z_]{0,127})?$/;
const isReference = (v: string): boolean => reference.test(v) || dollarReference.test(v);
const schemeWord = /^(?:bearer|basic|token|digest|negotiate)$/i;

/** The scanner-free token formats, indexed by lower-cased prefix; one case-insensitive alternation finds candidates. */
const formats = (() => {
  const byPrefix = new Map<string, RegExp[]>();
  for (const f of tokenFormats) {
    const re = new RegExp(f.source, `${f.flags}y`);
    for (const p of f.prefixes) {
      const key = p.toLowerCase();
      byPrefix.set(key, [...(byPrefix.get(key) ?? []), re]);
    }
  }
  // Candidates are found by their first three characters; every prefix starting there is then tried.
  const byHead = new Map<string, string[]>();
  for (const p of byPrefix.keys()) byHead.set(p.slice(0, 3), [...(byHead.get(p.slice(0, 3)) ?? []), p]);
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  return { byPrefix, byHead, candidates: new RegExp([...byHead.keys()].map(escape).join('|'), 'gi') };
})();

function push(spans: Span[], start: number, end: number, open: boolean, privateKey = false, from = start): void {
  if (end > start) spans.push({ start, end, from: Math.min(from, start), ...(open ? { open } : {}), ...(privateKey ? { privateKey } : {}) });
}

/** Runs `re` over `text`, adding the span of the first group from `group` on that matched when `keep` allows. */
function collect(spans: Span[], text: string, re: RegExp, group: number, keep?: (m: RegExpExecArray, value: string) => boolean): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    let range: [number, number] = [m.index, m.index + m[0].length];
    let value = m[0];
    for (let g = group; g < m.length; g++) {
      const at = m.indices?.[g];
      if (at && m[g] !== undefined) {
        range = at;
        value = m[g]!;
        break;
      }
    }
    if (!keep || keep(m, value)) push(spans, range[0], range[1], range[1] >= text.length, false, m.index);
    if (m[0].length === 0) re.lastIndex++;
  }
}

/** PEM private key blocks (RSA, EC, OpenSSH, PKCS#8, encrypted with `Proc-Type` / `DEK-Info`, PGP `KEY BLOCK`, SSH2 `---- BEGIN`). */
function privateKeys(spans: Span[], text: string): void {
  privateKeyBegin.lastIndex = 0;
  // END is searched forward only, so the whole pass is linear even with many BEGINs.
  let noEndFrom = Number.POSITIVE_INFINITY;
  for (let m = privateKeyBegin.exec(text); m !== null; m = privateKeyBegin.exec(text)) {
    if (!m[1]!.includes('PRIVATE KEY')) continue;
    const start = m.index;
    let end = -1;
    if (privateKeyBegin.lastIndex < noEndFrom) {
      privateKeyEnd.lastIndex = privateKeyBegin.lastIndex;
      const e = privateKeyEnd.exec(text);
      if (e) end = e.index + e[0].length;
      else noEndFrom = privateKeyBegin.lastIndex;
    }
    let open = false;
    if (end < 0) {
      // No END (cut or streamed): everything that still looks like the key's body goes.
      pemBody.lastIndex = privateKeyBegin.lastIndex;
      pemBody.exec(text);
      end = pemBody.lastIndex;
      open = end >= text.length;
    }
    push(spans, start, end, open, true);
    privateKeyBegin.lastIndex = Math.max(end, privateKeyBegin.lastIndex);
  }
}

/** YAML block scalars under sensitive names: the lines indented deeper than the name go, blank lines between them included. */
function blockScalars(spans: Span[], text: string): void {
  if (!blockScalarMarker.test(text)) return;
  blockScalarHead.lastIndex = 0;
  for (let m = blockScalarHead.exec(text); m !== null; m = blockScalarHead.exec(text)) {
    const end = m.index + m[0].length;
    if (!isSensitiveKey(m[2]!)) {
      blockScalarHead.lastIndex = end + 1;
      continue;
    }
    const indent = m[1]!.length;
    let at = end + 1;
    let start = -1;
    let last = -1;
    while (at <= text.length) {
      let nl = text.indexOf('\n', at);
      if (nl < 0) nl = text.length;
      let i = at;
      while (i < nl && (text[i] === ' ' || text[i] === '\t')) i++;
      const blank = i === nl || (text[i] === '\r' && i + 1 === nl);
      if (!blank && i - at <= indent) break;
      if (!blank) {
        if (start < 0) start = i;
        last = text[nl - 1] === '\r' ? nl - 1 : nl;
      }
      at = nl + 1;
    }
    // The block reaches the end of the text: it may go on in the next chunk.
    const open = at > text.length;
    if (start >= 0) push(spans, start, last, open || last >= text.length, false, m.index);
    blockScalarHead.lastIndex = Math.max(end + 1, last);
  }
}

/** Known token formats generated from the secret rules, each match extended over trailing token characters. */
function tokens(spans: Span[], text: string): void {
  const { candidates, byPrefix, byHead } = formats;
  candidates.lastIndex = 0;
  for (let m = candidates.exec(text); m !== null; m = candidates.exec(text)) {
    const at = m.index;
    let best = -1;
    for (const prefix of byHead.get(m[0].toLowerCase()) ?? []) {
      if (text.slice(at, at + prefix.length).toLowerCase() !== prefix) continue;
      for (const re of byPrefix.get(prefix)!) {
        re.lastIndex = at;
        const t = re.exec(text);
        if (t) best = Math.max(best, at + t[0].length);
      }
    }
    if (best < 0) {
      candidates.lastIndex = at + 1;
      continue;
    }
    let end = best;
    while (end < text.length && end - best < 4096 && tokenChar.test(text[end]!)) end++;
    push(spans, at, end, end >= text.length);
    candidates.lastIndex = end;
  }
  jwt.lastIndex = 0;
  for (let m = jwt.exec(text); m !== null; m = jwt.exec(text)) {
    let end = m.index + m[0].length;
    while (end < text.length && end - m.index < 65536 && /[A-Za-z0-9_\-.]/.test(text[end]!)) end++;
    push(spans, m.index, end, end >= text.length);
    jwt.lastIndex = end;
  }
}

/** An AWS access key id (the `aws-access-token` format, global): the anchor for {@link awsSecretKeys}. */
const awsAccessKeyId = (() => {
  const f = tokenFormats.find((t) => t.id === 'aws-access-token');
  return f ? new RegExp(`${f.source}(?![A-Za-z0-9])`, `${f.flags}g`) : undefined;
})();
/** Characters of text either side of an access key id searched for its secret key. */
const awsSecretReach = 200;
/** What an AWS secret access key looks like: 40 characters of base64 standing alone. */
const awsSecretKey = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=_-])/g;

/**
 * AWS secret access keys with no name beside them. Alone, 40 base64 characters are as likely
 * a hash, an id or a path as a secret, so one goes only within {@link awsSecretReach}
 * characters of an access key id (the two are issued, pasted and leaked together) and only when
 * it mixes upper and lower case with a digit, `+` or `/`, as a random key does (a hex SHA-1 does
 * not). Each character is searched at most once, however many ids there are.
 */
function awsSecretKeys(spans: Span[], text: string): void {
  if (!awsAccessKeyId) return;
  awsAccessKeyId.lastIndex = 0;
  let searched = 0;
  for (let m = awsAccessKeyId.exec(text); m !== null; m = awsAccessKeyId.exec(text)) {
    // Windows overlap by a key's length, so a key across the last one's edge is seen whole.
    const from = Math.max(searched - 40, m.index - awsSecretReach - 40, 0);
    const to = Math.min(text.length, m.index + m[0].length + awsSecretReach + 40);
    if (to <= from) continue;
    const near = text.slice(from, to);
    awsSecretKey.lastIndex = 0;
    for (let k = awsSecretKey.exec(near); k !== null; k = awsSecretKey.exec(near)) {
      const key = k[0];
      // A candidate cut by the window's edge is only whole if the text agrees.
      const start = from + k.index;
      const end = start + key.length;
      if ((k.index === 0 && from > 0 && /[A-Za-z0-9+/=_-]/.test(text[from - 1]!)) || (end === to && to < text.length && /[A-Za-z0-9+/=_-]/.test(text[to]!)))
        continue;
      if (/[A-Z]/.test(key) && /[a-z]/.test(key) && /[0-9+/]/.test(key)) push(spans, start, end, end >= text.length);
    }
    searched = to;
  }
}

/** Base64 (or base64url) that decodes to a credential: `user:password`, a known token, a private key, `KEY=value`. */
function wrapped(spans: Span[], text: string, depth: number): void {
  base64Run.lastIndex = 0;
  for (let m = base64Run.exec(text); m !== null; m = base64Run.exec(text)) {
    const run = m[0];
    if (!/[0-9+/=_-]/.test(run) && !/[A-Z]/.test(run.slice(1))) continue;
    const decoded = Buffer.from(run, 'base64').toString('latin1');
    // Printable text only: most base64 that is not a secret (images, hashes) decodes to binary.
    if (decoded.length < 8 || /[^\t\n\r\x20-\x7e]/.test(decoded)) continue;
    const credential = /^[\x21-\x39\x3b-\x7e]{1,128}:[\x20-\x7e]{1,256}$/.test(decoded) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(decoded);
    // The nested pass reuses this module's regexes (their lastIndex), so the loop's position is restored after it.
    const next = base64Run.lastIndex;
    const inner = !credential && findSpans(decoded, undefined, depth + 1).length > 0;
    base64Run.lastIndex = next;
    if (credential || inner) push(spans, m.index, m.index + run.length, m.index + run.length >= text.length);
  }
}

/**
 * Every span of `text` to redact: private keys, auth and cookie headers, bearer and basic
 * credentials, URL passwords, sensitive query parameters and assignments, token formats,
 * JWTs, base64-wrapped secrets and, with a scanner, every finding of its rules.
 */
function findSpans(text: string, scanner: SecretScanner | undefined, depth = 0): Span[] {
  const spans: Span[] = [];
  privateKeys(spans, text);
  collect(spans, text, authorizationHeader, 1, (_m, v) => !schemeWord.test(v.trim()));
  collect(spans, text, cookieHeader, 1);
  collect(spans, text, bearer, 1);
  collect(spans, text, basic, 1, (_m, v) => {
    const decoded = Buffer.from(v, 'base64').toString('latin1');
    return decoded.includes(':') && !/[^\x20-\x7e]/.test(decoded);
  });
  // Cheap prechecks: each costly pattern runs only when the literal text it needs is present.
  if (text.includes('://') && text.includes('@')) collect(spans, text, urlUserinfo, 1);
  collect(spans, text, queryParam, 1);
  const assignments = assignmentKeyword.test(text) || sessionKeyword(text);
  const quotedValue = (v: string): boolean => v.trim() !== '' && !isReference(v.trim());
  if (assignments) collect(spans, text, quotedAssignment, 2, sensitiveName(text, quotedValue));
  if (assignments) collect(spans, text, escapedAssignment, 2, sensitiveName(text, quotedValue));
  if (assignments) blockScalars(spans, text);
  if (assignments)
    collect(
      spans,
      text,
      bareAssignment,
      2,
      sensitiveName(text, (v) => !schemeWord.test(v) && !isReference(v)),
    );
  tokens(spans, text);
  awsSecretKeys(spans, text);
  if (depth < 2) wrapped(spans, text, depth);
  if (scanner) {
    // Findings give the secret's start and its length in code points.
    for (const f of scanner.scanText(text)) {
      const start = f.location?.offset ?? -1;
      const chars = Number(/\[(\d+) chars\]$/.exec(f.match ?? '')?.[1] ?? 0);
      if (start < 0 || chars === 0) continue;
      let end = start;
      for (let n = 0; n < chars && end < text.length; n++) end += (text.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
      push(spans, start, end, end >= text.length);
    }
  }
  return spans;
}

/** Sorts and merges overlapping spans. */
function merge(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  for (const s of spans) {
    const last = out.at(-1);
    if (last && s.start < last.end) {
      if (s.end > last.end) last.end = s.end;
      if (s.from < last.from) last.from = s.from;
      last.open ||= s.open ?? false;
      last.privateKey ||= s.privateKey ?? false;
    } else out.push({ ...s });
  }
  return out;
}

/** `text[from, to)` with `spans` (sorted, merged, clipped to the range) replaced by markers. */
function apply(text: string, spans: readonly Span[], from: number, to: number, marker: string): string {
  let out = '';
  let at = from;
  for (const s of spans) {
    if (s.end <= from || s.start >= to) continue;
    const start = Math.max(s.start, from);
    if (start > at) out += text.slice(at, start);
    out += s.privateKey && marker === defaultMarker ? keyMarker : marker;
    at = Math.max(at, Math.min(s.end, to));
  }
  if (to > at) out += text.slice(at, to);
  return out;
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes without splitting a code point (or a surrogate pair). */
export function truncateUtf8(text: string, maxBytes: number, marker = '…[truncated]'): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let size: number;
    let width = 1;
    if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size = 4;
      width = 2;
    } else size = 3;
    if (bytes + size > maxBytes) return `${text.slice(0, i)}${marker}`;
    bytes += size;
    i += width - 1;
  }
  return text;
}

/** Redacts one string without any length bound (the building block of both forms). */
export function redactString(text: string, scanner?: SecretScanner, marker = defaultMarker): string {
  const spans = merge(findSpans(text, scanner));
  return spans.length === 0 ? text : apply(text, spans, 0, text.length, marker);
}

/** Characters of context past the kept prefix that the patterns see before the cut. */
const cutMargin = 64 * 1024;

function redactText(text: string, options: RedactOptions): string {
  const maxBytes = options.maxStringBytes ?? 16 * 1024;
  const marker = options.marker ?? defaultMarker;
  // Redact first, cut after: a secret straddling the cut is replaced whole, never half kept.
  // Only a window past the kept prefix is looked at; if redaction shrinks it below the cut,
  // the window grows, so a partial token at the window's edge never reaches the output.
  let window = maxBytes + cutMargin;
  for (;;) {
    if (window >= text.length) return truncateUtf8(redactString(text, options.scanner, marker), maxBytes);
    const spans = merge(findSpans(text.slice(0, window), options.scanner));
    const safe = window - cutMargin / 2;
    const out = apply(text, spans, 0, safe, marker);
    if (Buffer.byteLength(out) > maxBytes) return truncateUtf8(out, maxBytes);
    window *= 2;
  }
}

/**
 * Redacts secrets from a string or a JSON-like value before it is logged, recorded or sent:
 * values under sensitive keys (`password`, `token`, `secret`, `authorization`, `api_key`,
 * ...; strings and numbers alike), `Authorization:` and `Cookie:` headers, bearer and basic
 * credentials, credentials in URLs, sensitive query parameters, `KEY=value` assignments
 * (references such as `$VAR` or `process.env.X` kept), PEM and PGP private keys (encrypted
 * ones too), JWTs, every self-identifying token format of the default secret rules (GitHub,
 * GitLab, AWS, Slack, Stripe, OpenAI, Anthropic, npm, ...), and base64 that decodes to any of
 * these. Object keys that are secrets are replaced too; `rawHeaders`-style arrays and argv
 * arrays (`['--password', 'x']`) have the value after a sensitive name replaced. Strings are
 * redacted first and then bounded in UTF-8 bytes with a marker, never splitting a code point.
 * Objects keep their shape (arrays stay arrays), cycles become `[Circular]`, and the input is
 * never modified. Never throws: a getter that throws becomes `[Unreadable]`.
 *
 * For output that arrives in chunks use {@link createStreamRedactor}: a secret split across
 * chunks is still replaced whole.
 *
 * @example
 * ```ts
 * redact({ user: 'ann', password: 'hunter2', url: 'https://ann:pw@db/x' });
 * // { user: 'ann', password: '[REDACTED]', url: 'https://ann:[REDACTED]@db/x' }
 * ```
 */
export function redact<T>(value: T, options: RedactOptions = {}): T {
  try {
    const ctx: Walk = { options, ancestors: new WeakSet(), done: new WeakMap(), used: 0, maxNodes: options.maxNodes ?? 20_000 };
    return walk(ctx, value, 0) as T;
  } catch {
    return (options.marker ?? defaultMarker) as T;
  }
}

/** The state of one {@link redact} call. */
interface Walk {
  readonly options: RedactOptions;
  /** Objects on the current path (a cycle is one met again here). */
  readonly ancestors: WeakSet<object>;
  /** Each object's output per depth and the number of output values it counts for, so a shared subobject is walked once. */
  readonly done: WeakMap<object, Map<number, { readonly out: unknown; readonly size: number }>>;
  /** Output values so far, shared ones counted every time they appear. */
  used: number;
  readonly maxNodes: number;
}

const budgetMarker = '[Truncated: budget]';

/** What {@link redact} puts where a value is nested deeper than `maxDepth`; serialisers reuse it for values too deep to write. */
export const tooDeepMarker = '[Truncated: too deep]';

/** A name that, in a list of strings, says the next item is a secret: `Authorization`, `--password`, `-Token:`. */
function secretName(item: string): boolean {
  const m = /^-{0,2}([A-Za-z][A-Za-z0-9_.-]{0,63}):?$/.exec(item);
  return m !== null && !isPasswordProgram(item) && isSensitiveKey(m[1]!);
}

function walkArray(ctx: Walk, value: readonly unknown[], depth: number): unknown[] {
  const maxEntries = ctx.options.maxEntries ?? 1000;
  const marker = ctx.options.marker ?? defaultMarker;
  const items = value.slice(0, maxEntries);
  const out = items.map((v) => walk(ctx, v, depth + 1));
  if (items.length > 0 && items.every((v) => typeof v === 'string')) {
    // Node's `rawHeaders` ([name, value, name, value, ...]) and argv lists (['-p', 'x']).
    const strings = items as string[];
    for (let i = 0; i + 1 < strings.length; i++) {
      if (secretName(strings[i]!) && strings[i + 1] !== '') out[++i] = marker;
    }
    // Credential options by what they are: `mysql -p x`, `curl -u user:pw`, `sshpass -p x`.
    for (const [i, masked] of credentialArguments(strings)) if (out[i] !== marker) out[i] = masked.replaceAll('[REDACTED]', marker);
  }
  if (value.length > maxEntries) out.push(`[Truncated: ${value.length - maxEntries} more items]`);
  return out;
}

/** A value under a sensitive name that goes whole (anything but `null`, `undefined`, `''` and booleans). */
function isSecretValue(v: unknown): boolean {
  return v !== null && v !== undefined && v !== '' && typeof v !== 'boolean';
}

/**
 * A list under a sensitive name (`tokens`, `passwords`): it keeps its shape, and each item that
 * can hold a secret goes, nested lists walked the same way. Under a record name (`sessions`,
 * see {@link isRecordKey}) object items are records and are walked instead.
 */
function walkSecrets(ctx: Walk, value: readonly unknown[], depth: number, records: boolean): unknown {
  if (ctx.used >= ctx.maxNodes) return budgetMarker;
  if (depth >= (ctx.options.maxDepth ?? 32)) return tooDeepMarker;
  ctx.used++;
  const marker = ctx.options.marker ?? defaultMarker;
  const maxEntries = ctx.options.maxEntries ?? 1000;
  const out = value.slice(0, maxEntries).map((v) => {
    if (Array.isArray(v)) return ctx.ancestors.has(v) ? '[Circular]' : walkSecrets(ctx, v, depth + 1, records);
    if (!isSecretValue(v) || (records && typeof v === 'object')) return walk(ctx, v, depth + 1);
    ctx.used++;
    return marker;
  });
  if (value.length > maxEntries) out.push(`[Truncated: ${value.length - maxEntries} more items]`);
  return out;
}

function walk(ctx: Walk, value: unknown, depth: number): unknown {
  if (ctx.used >= ctx.maxNodes) return budgetMarker;
  ctx.used++;
  const { options } = ctx;
  if (typeof value === 'string') return redactText(value, options);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  }
  if (ctx.ancestors.has(value)) return '[Circular]';
  if (depth >= (options.maxDepth ?? 32)) return tooDeepMarker;
  const cached = ctx.done.get(value)?.get(depth);
  if (cached) {
    // Counted again (minus the value already counted above): the output is bounded as if copied.
    if (ctx.used - 1 + cached.size > ctx.maxNodes) return budgetMarker;
    ctx.used += cached.size - 1;
    return cached.out;
  }
  const before = ctx.used - 1;
  ctx.ancestors.add(value);
  let out: unknown;
  try {
    out = walkObject(ctx, value, depth);
  } finally {
    ctx.ancestors.delete(value);
  }
  let byDepth = ctx.done.get(value);
  if (!byDepth) ctx.done.set(value, (byDepth = new Map()));
  byDepth.set(depth, { out, size: ctx.used - before });
  return out;
}

function walkObject(ctx: Walk, value: object, depth: number): unknown {
  const { options } = ctx;
  const maxEntries = options.maxEntries ?? 1000;
  const marker = options.marker ?? defaultMarker;
  if (Array.isArray(value)) return walkArray(ctx, value, depth);
  if (value instanceof Date) return value;
  if (value instanceof URL) return redactText(value.href, options);
  if (value instanceof Error) {
    return { name: value.name, message: redactText(value.message, options), ...(walk(ctx, { ...value }, depth + 1) as object) };
  }
  if (value instanceof Map) return walk(ctx, Object.fromEntries(value), depth);
  if (value instanceof Set) return walkArray(ctx, [...value], depth);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[Binary: ${(value as ArrayBufferLike).byteLength} bytes]`;
  // Keys are defined, never assigned: a `__proto__` key stays an own key and sets no prototype.
  const out: Record<string, unknown> = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
  const set = (key: string, v: unknown): void => {
    Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  };
  const keys = Object.keys(value);
  let n = 0;
  for (const key of keys) {
    if (n++ >= maxEntries) {
      set('[truncated]', `${keys.length - maxEntries} more keys`);
      break;
    }
    let v: unknown;
    try {
      v = (value as Record<string, unknown>)[key];
    } catch {
      set(key, '[Unreadable]');
      continue;
    }
    // A secret used as a key (a token map, a header object built from a response) goes too.
    let name = redactText(key, options);
    if (name !== key) for (let k = 2; Object.hasOwn(out, name); k++) name = `${redactText(key, options)}#${k}`;
    if (Array.isArray(v) && isSensitiveListKey(key)) set(name, walkSecrets(ctx, v, depth + 1, isRecordKey(key)));
    else if (isSensitiveKey(key) && isSecretValue(v) && !(typeof v === 'object' && isRecordKey(key))) set(name, marker);
    else set(name, walk(ctx, v, depth + 1));
  }
  return out;
}

/** Options of {@link createStreamRedactor}. */
export interface StreamRedactorOptions {
  /**
   * Characters held back at the end of what has been written (default 8 KiB): a secret that
   * starts in them may still be completed by the next chunk. Text is scanned once three windows
   * are pending, so output lags input by less than three windows (longer for an unfinished
   * secret such as a private key block, up to `maxHold`). It bounds how late output appears,
   * never what is redacted.
   */
  readonly window?: number;
  /** Most characters held back for an unfinished secret (default 1 MiB); past it they are released, redacted as far as seen. */
  readonly maxHold?: number;
  /** Also run this secret scanner's rules (see {@link RedactOptions.scanner}). */
  readonly scanner?: SecretScanner;
  /** Replacement text (default `[REDACTED]`). */
  readonly marker?: string;
}

/** A redactor for text that arrives in chunks (a tool's stdout, a log stream). */
export interface StreamRedactor {
  /** Takes the next chunk and returns the text that is now safe to pass on (possibly empty). */
  write(chunk: string): string;
  /** Ends the stream: returns the rest, redacted. Later writes start a new stream. */
  end(): string;
}

/** Characters of emitted text carried before the cut (at most a window): look-behind, and the keyword context of the scanner's rules. */
const streamContext = 1024;

/**
 * Where the text carried into the next scan starts: `anchor` (the context before the cut, or
 * the head of a match still to be emitted), moved back to a line start, or failing that a blank,
 * within a window, so the patterns meet the carried text aligned as they meet the whole text
 * (never inside a token or a base64 run); with neither, a window before the cut.
 */
function carryStart(text: string, anchor: number, cut: number, window: number): number {
  const floor = Math.max(0, anchor - window);
  let blank = -1;
  for (let i = anchor; i > floor; i--) {
    const c = text.charCodeAt(i - 1);
    if (c === 10) return i;
    if (blank < 0 && (c === 32 || c === 9 || c === 13)) blank = i;
  }
  if (anchor <= 0) return 0;
  return blank >= 0 ? blank : Math.max(0, Math.min(anchor, cut - window));
}

/**
 * Creates a redactor for streamed text with a carried-over window: every write is redacted
 * together with the end of the previous ones, so a token, a `password=` assignment or a PEM
 * block split across chunks at any offset is still replaced whole. Output lags input by less
 * than three windows (longer for an unfinished private key block); concatenating every
 * `write` and the final `end` gives what {@link redact} gives for the whole text, without a
 * length bound. Each character is scanned about 1.5 times: a scan covers the pending text, the
 * window held back from the previous scan and a short context before it (about 1 KiB, back to
 * a line start, and the head of any match still to be emitted), not a whole window of text
 * already passed on. For byte streams decode first (`TextDecoder` with `stream: true`), so a
 * multi-byte character split across chunks is joined.
 *
 * @example
 * ```ts
 * const r = createStreamRedactor();
 * const out = r.write('token=ghp_a1B2c3D4e5') + r.write('F6g7H8i9J0k1L2m3N4o5P6q7R8\n') + r.end();
 * // 'token=[REDACTED]\n'
 * ```
 */
export function createStreamRedactor(options: StreamRedactorOptions = {}): StreamRedactor {
  const window = Math.max(256, options.window ?? 8 * 1024);
  const maxHold = Math.max(window * 2, options.maxHold ?? 1 << 20);
  const marker = options.marker ?? defaultMarker;
  const context = Math.min(window, streamContext);
  // Pending text before a scan: three windows, so two are emitted per scan and only the held
  // window and the context are scanned twice.
  const scanEvery = window * 3;
  // `buffer` is carried context (already emitted) followed by pending text from `emitted` on.
  let buffer = '';
  let emitted = 0;
  // Pending text needed before the next scan: grows with what is carried and held, so holding stays linear.
  let due = scanEvery;

  const drain = (final: boolean): string => {
    const spans = merge(findSpans(buffer, options.scanner));
    let cut = final ? buffer.length : buffer.length - window;
    if (!final) {
      // A span reaching the end, or one the cut would split, may still grow: hold it back whole.
      for (const s of spans) if (s.open || s.end >= buffer.length || (s.start < cut && s.end > cut)) cut = Math.min(cut, s.start);
      if (buffer.length - emitted > maxHold) cut = Math.max(cut, buffer.length - window);
    }
    let out = '';
    if (cut > emitted) {
      // Spans that ended in the carried context were handled when it was emitted; one that began
      // there (after a forced release) is marked again rather than passed on.
      out = apply(
        buffer,
        spans.filter((s) => s.end > emitted),
        emitted,
        cut,
        marker,
      );
      // The next scan must find again every match not wholly emitted, from its head (a name
      // before a value, a block scalar's head line), as far back as a secret is ever held.
      let anchor = cut - context;
      for (const s of spans) if (s.end > cut && s.from < anchor) anchor = Math.max(s.from, cut - maxHold);
      const keepFrom = carryStart(buffer, anchor, cut, window);
      buffer = buffer.slice(keepFrom);
      emitted = cut - keepFrom;
    }
    due = Math.max(scanEvery, buffer.length * 2);
    return out;
  };

  return {
    write(chunk: string): string {
      buffer += chunk;
      // Scan only once enough new text has come in: tiny writes stay linear overall.
      return buffer.length - emitted >= due ? drain(false) : '';
    },
    end(): string {
      const out = drain(true);
      buffer = '';
      emitted = 0;
      due = scanEvery;
      return out;
    },
  };
}
