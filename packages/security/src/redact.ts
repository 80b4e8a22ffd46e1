import type { SecretScanner } from './secret-scanner.js';

/** Options of {@link redact}. */
export interface RedactOptions {
  /** Longest string kept, in UTF-8 bytes (default 16 KiB); longer ones are cut at a code-point boundary and marked. */
  readonly maxStringBytes?: number;
  /** Deepest nesting kept for objects (default 32); deeper values become a marker. */
  readonly maxDepth?: number;
  /** Most keys or items kept per object or array (default 1000). */
  readonly maxEntries?: number;
  /** Also run this secret scanner's rules over strings (slower; catches every ported provider format). */
  readonly scanner?: SecretScanner;
  /** Replacement text (default `[REDACTED]`). */
  readonly marker?: string;
}

const defaultMarker = '[REDACTED]';

/** Key names whose values are secrets, whatever they look like (matched on the lower-cased, separator-free key). */
const sensitiveKey =
  /(?:passw(?:or)?d|passphrase|secret|token|apikey|accesskey|privatekey|authorization|auth$|^auth(?:token|key|header|code|secret)|credential|cookie|session(?:id|key)?$|signature|^pwd$|clientsecret|connectionstring|dsn$|bearer|jwt$|sharedkey|masterkey|encryptionkey|signingkey)/;

/** Keys that contain a sensitive fragment but name metadata, not a secret. */
const harmlessKey = /(?:tokens?(?:count|usage|limit|s)$|^(?:max|input|output|prompt|completion|total|cached)tokens?|tokenizer|secretname|secretref|keyid$|passwordpolicy|authorizationurl|authmethod|tokentype|tokenurl|tokenendpoint)/;

/** True when a value under `key` must be redacted whatever it looks like. */
export function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_.\s]/g, '');
  return sensitiveKey.test(k) && !harmlessKey.test(k);
}

// Each pattern is linear for V8's backtracking engine: no nested or adjacent overlapping
// quantifiers; the redactor tests run them on pattern-bomb input.
const patterns: readonly [RegExp, (m: string, ...g: string[]) => string][] = [
  // PEM private keys, whole block.
  [/-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[^-]{0,20000}-----END[A-Z ]{0,40}PRIVATE KEY-----/g, () => '[REDACTED PRIVATE KEY]'],
  // Authorization headers and bearer tokens.
  [/\b(authorization|proxy-authorization)(["']?\s{0,8}[:=]\s{0,8}["']?)(?:(bearer|basic|token|digest|negotiate)\s{1,8})?[^\s"',;]{1,4096}/gi, (_m, name, sep, scheme) => `${name}${sep}${scheme ? `${scheme} ` : ''}[REDACTED]`],
  [/\b(bearer\s{1,8})[A-Za-z0-9\-._~+/]{8,4096}=*/gi, (_m, p) => `${p}[REDACTED]`],
  // Credentials in URLs: scheme://user:pass@host.
  [/\b([a-z][a-z0-9+.-]{1,20}:\/\/)([^\s:@/]{1,256}):([^\s@/]{1,256})@/gi, (_m, scheme, user) => `${scheme}${user}:[REDACTED]@`],
  // Query parameters with sensitive names.
  [/([?&](?:access_token|refresh_token|id_token|token|api_key|apikey|key|secret|password|passwd|pwd|sig|signature|client_secret|auth)=)[^&#\s"']{1,4096}/gi, (_m, p) => `${p}[REDACTED]`],
  // KEY=value / key: value assignments with sensitive names (env files, shell, YAML, JSON text).
  [
    /\b([A-Za-z0-9_.-]{0,64}(?:passw(?:or)?d|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth)[A-Za-z0-9_.-]{0,32})(["']?[ \t]{0,8}(?:=|:)[ \t]{0,8}["']?)([^\s"',;}{$[][^\s"',;}{]{0,4095})/gi,
    // A value that is an auth scheme (`Authorization: Bearer x`) was handled above; `$VAR` is a reference, not a secret.
    (m, name, sep, value) => (isSensitiveKey(name) && !/^(?:bearer|basic|token|digest|negotiate)$/i.test(value) ? `${name}${sep}[REDACTED]` : m),
  ],
  // Well-known token shapes (kept short so each is a single linear scan).
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b/g, () => '[REDACTED]'],
  [/\bgithub_pat_[A-Za-z0-9_]{22,255}\b/g, () => '[REDACTED]'],
  [/\bglpat-[A-Za-z0-9_-]{20,64}\b/g, () => '[REDACTED]'],
  [/\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g, () => '[REDACTED]'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,255}\b/g, () => '[REDACTED]'],
  [/\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}\b/g, () => '[REDACTED]'],
  [/\bsk-(?:proj-|ant-(?:api03-)?)?[A-Za-z0-9_-]{20,255}\b/g, () => '[REDACTED]'],
  [/\bAIza[A-Za-z0-9_-]{35}\b/g, () => '[REDACTED]'],
  [/\bnpm_[A-Za-z0-9]{36}\b/g, () => '[REDACTED]'],
  [/\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b/g, () => '[REDACTED]'],
  // JWTs: header.payload.signature, base64url.
  [/\beyJ[A-Za-z0-9_-]{8,8192}\.eyJ[A-Za-z0-9_-]{4,16384}\.[A-Za-z0-9_-]{0,8192}/g, () => '[REDACTED JWT]'],
];

/** Cuts `text` to at most `maxBytes` UTF-8 bytes without splitting a code point (or a surrogate pair). */
export function truncateUtf8(text: string, maxBytes: number, marker = '…[truncated]'): string {
  if (text.length * 3 <= maxBytes) return text;
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

function redactText(text: string, options: RedactOptions): string {
  const maxBytes = options.maxStringBytes ?? 16 * 1024;
  // Bound first: the patterns then never see more than the kept prefix (plus its margin).
  let out = truncateUtf8(text, maxBytes);
  for (const [re, fn] of patterns) {
    re.lastIndex = 0;
    if (re.test(out)) {
      re.lastIndex = 0;
      out = out.replace(re, fn as (substring: string, ...args: string[]) => string);
    }
  }
  if (options.scanner) {
    // Findings give the secret's start and its length in code points; overlapping ones (two
    // rules on one secret) are merged, then replaced from the end so offsets stay valid.
    const spans: [number, number][] = [];
    for (const f of options.scanner.scanText(out)) {
      const start = f.location?.offset ?? -1;
      const chars = Number(/\[(\d+) chars\]$/.exec(f.match ?? '')?.[1] ?? 0);
      if (start < 0 || chars === 0) continue;
      let end = start;
      for (let n = 0; n < chars && end < out.length; n++) end += (out.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
      spans.push([start, end]);
    }
    spans.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const span of spans) {
      const last = merged.at(-1);
      if (last && span[0] < last[1]) last[1] = Math.max(last[1], span[1]);
      else merged.push([...span]);
    }
    for (const [start, end] of merged.toReversed()) out = `${out.slice(0, start)}${options.marker ?? defaultMarker}${out.slice(end)}`;
  }
  if (options.marker && options.marker !== defaultMarker) out = out.replaceAll(defaultMarker, options.marker);
  return out;
}

/**
 * Redacts secrets from a string or a JSON-like value before it is logged, recorded or sent:
 * values under sensitive keys (`password`, `token`, `secret`, `authorization`, `api_key`,
 * ...), `Authorization: Bearer ...`, credentials in URLs, `KEY=value` assignments and known
 * token formats (GitHub, AWS, Slack, Stripe, OpenAI, Google, JWT, PEM private keys). Strings are
 * bounded in UTF-8 bytes with a marker, never splitting a code point. Objects keep their
 * shape (arrays stay arrays, keys stay), cycles become `[Circular]`, and the input is never
 * modified. Never throws: a getter that throws becomes `[Unreadable]`.
 *
 * @example
 * ```ts
 * redact({ user: 'ann', password: 'hunter2', url: 'https://ann:pw@db/x' });
 * // { user: 'ann', password: '[REDACTED]', url: 'https://ann:[REDACTED]@db/x' }
 * ```
 */
export function redact<T>(value: T, options: RedactOptions = {}): T {
  try {
    return walk(value, options, 0, new WeakSet()) as T;
  } catch {
    return (options.marker ?? defaultMarker) as T;
  }
}

function walk(value: unknown, options: RedactOptions, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactText(value, options);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  }
  if (seen.has(value)) return '[Circular]';
  if (depth >= (options.maxDepth ?? 32)) return '[Truncated: too deep]';
  seen.add(value);
  const maxEntries = options.maxEntries ?? 1000;
  const marker = options.marker ?? defaultMarker;
  try {
    if (Array.isArray(value)) {
      const out = value.slice(0, maxEntries).map((v) => walk(v, options, depth + 1, seen));
      if (value.length > maxEntries) out.push(`[Truncated: ${value.length - maxEntries} more items]`);
      return out;
    }
    if (value instanceof Date) return value;
    if (value instanceof Error) {
      return { name: value.name, message: redactText(value.message, options), ...walk({ ...value }, options, depth + 1, seen) as object };
    }
    if (value instanceof Map) return walk(Object.fromEntries(value), options, depth, seen);
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[Binary: ${(value as ArrayBufferLike).byteLength} bytes]`;
    const out: Record<string, unknown> = {};
    let n = 0;
    for (const key of Object.keys(value)) {
      if (n++ >= maxEntries) {
        out['[truncated]'] = `${Object.keys(value).length - maxEntries} more keys`;
        break;
      }
      let v: unknown;
      try {
        v = (value as Record<string, unknown>)[key];
      } catch {
        out[key] = '[Unreadable]';
        continue;
      }
      if (isSensitiveKey(key) && v !== null && v !== undefined && v !== '' && typeof v !== 'boolean' && typeof v !== 'number') out[key] = marker;
      else out[key] = walk(v, options, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
