import { InvalidSubjectError } from './bus-errors.js';

/**
 * Subject rules and token encoding shared by every {@link Bus} adapter. Subjects follow NATS:
 * dot-separated non-empty tokens of printable characters without whitespace; in a
 * subscription pattern `*` matches exactly one token and `>` (only as the last token) matches
 * one or more trailing tokens.
 */

/** Characters a token may carry as they are; everything else is escaped. */
const PLAIN = /^[A-Za-z0-9-]$/;

/**
 * Encodes any non-empty string (an agent id, a stream id such as `session:01J…`) into one
 * subject token. Letters, digits and `-` stay as they are; every other character, `_`
 * included, becomes `_` followed by two upper-case hex digits per UTF-8 byte. The result uses
 * only `[A-Za-z0-9_-]`, so it is also a valid NATS KV key, and it decodes back exactly:
 * `a.b` → `a_2Eb`, `a_b` → `a_5Fb`, `a-b` → `a-b`.
 *
 * @throws {InvalidSubjectError} when `id` is empty or not a string
 */
export function encodeSubjectToken(id: string): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidSubjectError(String(id), `token source ${JSON.stringify(id)} must be a non-empty string`);
  }
  let out = '';
  for (const char of id) {
    if (PLAIN.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) out += `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The inverse of {@link encodeSubjectToken}.
 *
 * @throws {InvalidSubjectError} when `token` was not produced by {@link encodeSubjectToken}
 */
export function decodeSubjectToken(token: string): string {
  if (!/^(?:[A-Za-z0-9-]|_[0-9A-F]{2})+$/.test(token)) {
    throw new InvalidSubjectError(token, `token ${JSON.stringify(token)} is not an encoded subject token`);
  }
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '_') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  const decoded = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  if (encodeSubjectToken(decoded) !== token) {
    throw new InvalidSubjectError(token, `token ${JSON.stringify(token)} is not an encoded subject token`);
  }
  return decoded;
}

/** How a subject is used: a concrete publish subject or a subscription pattern. */
export type SubjectKind = 'publish' | 'subscribe';

// Whitespace and control characters break the NATS protocol line; DEL too.
function hasForbidden(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return true;
  }
  return /\s/.test(text);
}

/**
 * Checks `subject`: non-empty tokens, no whitespace or control characters; for `'publish'` no
 * wildcard at all; for `'subscribe'` `*` and `>` only as whole tokens and `>` only last.
 *
 * @throws {InvalidSubjectError} naming what was wrong
 */
export function assertSubject(subject: string, kind: SubjectKind): void {
  if (kind === 'publish' && validPublishSubjects.has(subject)) return;
  checkSubject(subject, kind);
  if (kind === 'publish') {
    // Hot publish loops reuse a few subjects; remembering them keeps validation off the fast path.
    if (validPublishSubjects.size >= 4096) validPublishSubjects.clear();
    validPublishSubjects.add(subject);
  }
}

const validPublishSubjects = new Set<string>();

function checkSubject(subject: string, kind: SubjectKind): void {
  if (typeof subject !== 'string' || subject.length === 0) {
    throw new InvalidSubjectError(String(subject), `subject ${JSON.stringify(subject)} must be a non-empty string`);
  }
  if (hasForbidden(subject)) {
    throw new InvalidSubjectError(subject, `subject ${JSON.stringify(subject)} contains whitespace or a control character`);
  }
  const tokens = subject.split('.');
  for (const [i, token] of tokens.entries()) {
    if (token.length === 0) {
      throw new InvalidSubjectError(subject, `subject ${JSON.stringify(subject)} has an empty token at index ${i}`);
    }
    const wild = token.includes('*') || token.includes('>');
    if (!wild) continue;
    if (kind === 'publish') {
      throw new InvalidSubjectError(subject, `subject ${JSON.stringify(subject)} has a wildcard; publish needs a concrete subject`);
    }
    if (token !== '*' && token !== '>') {
      throw new InvalidSubjectError(subject, `subject ${JSON.stringify(subject)} token ${JSON.stringify(token)} mixes a wildcard with other characters`);
    }
    if (token === '>' && i !== tokens.length - 1) {
      throw new InvalidSubjectError(subject, `subject ${JSON.stringify(subject)} has ">" before its last token`);
    }
  }
}

/** True when `subject` has no wildcard token. Assumes a valid subject. */
export function isConcreteSubject(subject: string): boolean {
  return !subject.split('.').some((t) => t === '*' || t === '>');
}

/**
 * True when the concrete `subject` matches the subscription `pattern` under NATS rules.
 * Both are assumed valid ({@link assertSubject}).
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * Joins tokens into a subject, encoding each `{ id }` part with {@link encodeSubjectToken} and
 * taking string parts as they are (they must be valid tokens or patterns).
 *
 * @example
 * ```ts
 * buildSubject('buckley', 'agent', { id: 'agent:a.b' }, 'inbox'); // 'buckley.agent.agent_3Aa_2Eb.inbox'
 * ```
 */
export function buildSubject(...parts: Array<string | { readonly id: string }>): string {
  return parts.map((part) => (typeof part === 'string' ? part : encodeSubjectToken(part.id))).join('.');
}

/** The inbox subject of an agent, `buckley.agent.<encoded id>.inbox` (go-coordination §9.4). */
export function agentInboxSubject(agentId: string): string {
  return buildSubject('buckley', 'agent', { id: agentId }, 'inbox');
}
