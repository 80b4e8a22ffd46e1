import RE2 from 're2';
import type { AuthPatternRule } from './auth-rule.js';
import { InvalidRuleError } from './errors.js';
import { type Finding, maskSecret } from './finding.js';
import { defaultAuthPatternRules } from './rules/auth-rules.js';
import { type DirectoryScanResult, type FileScanResult, type ScanOptions, openForScan, walkFiles } from './scan.js';

interface CompiledAuthRule {
  readonly rule: AuthPatternRule;
  readonly regex: RE2;
  readonly paths: RE2 | undefined;
  readonly requires: RE2 | undefined;
  readonly unless: RE2 | undefined;
  readonly allowMatch: readonly RE2[];
  readonly allowSecret: readonly RE2[];
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

/** A line that is only a comment: `//`, `/*`, ` * ` (block comment body), `#`, `<!--`, `--`. */
const commentLine = /^\s*(?:\/\/|\/\*|\*(?:\s|$)|#(?!!)|<!--|--\s)/;

/** Paths of test code and fixtures: findings there are usually deliberate, so confidence is halved. */
const testPath = /(?:^|\/)(?:tests?|__tests__|spec|specs|fixtures?|testdata|__fixtures__)\/|[._-](?:test|spec)\.[\w]+$|_test\.go$|(?:^|\/)test_[^/]*\.py$/i;

/** Options of {@link analyzeAuthPatterns}. */
export interface AuthPatternOptions {
  /** Path of the source (forward slashes): reported in findings, selects language- and config-specific rules. */
  readonly path?: string;
  /** Rules (default: {@link defaultAuthPatternRules}). */
  readonly rules?: readonly AuthPatternRule[];
  /** A prebuilt analyzer (overrides `rules`). */
  readonly analyzer?: AuthPatternAnalyzer;
}

/**
 * A compiled set of auth-pattern rules. Build one and reuse it. Each rule runs only when one of
 * its keywords occurs in the source, then as one RE2 pass over the whole source (linear time),
 * with its `requires` / `unless` context checks on the lines around each match.
 */
export class AuthPatternAnalyzer {
  readonly #rules: CompiledAuthRule[];

  /**
   * @param rules the rules (see {@link defaultAuthPatternRules})
   * @throws InvalidRuleError when a rule's regex does not compile under RE2 or the rule has no keyword
   */
  constructor(rules: readonly AuthPatternRule[]) {
    this.#rules = rules.map((rule) => {
      if (rule.keywords.length === 0) throw new InvalidRuleError(rule.id, `rule ${JSON.stringify(rule.id)} has no keywords`);
      return {
        rule,
        regex: compile(rule.id, rule.regex, 'g'),
        paths: rule.paths !== undefined ? compile(rule.id, rule.paths) : undefined,
        requires: rule.requires !== undefined ? compile(rule.id, rule.requires) : undefined,
        unless: rule.unless !== undefined ? compile(rule.id, rule.unless) : undefined,
        allowMatch: (rule.allow?.match ?? []).map((a) => compile(rule.id, a)),
        allowSecret: (rule.allow?.secret ?? []).map((a) => compile(rule.id, a)),
      };
    });
  }

  /** Number of rules. */
  get size(): number {
    return this.#rules.length;
  }

  /** Findings for `source`, ordered by position; see {@link analyzeAuthPatterns}. */
  analyze(source: string, options: { readonly path?: string } = {}): Finding[] {
    const findings: Finding[] = [];
    if (typeof source !== 'string' || source.length === 0) return findings;
    const path = options.path;
    const lower = source.toLowerCase();
    const starts: number[] = [0];
    for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
    const lineOf = (offset: number): number => {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= offset) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    };
    const lines = (from: number, to: number): string => {
      const a = starts[Math.max(0, from)]!;
      const last = Math.min(starts.length - 1, to);
      const b = last + 1 < starts.length ? starts[last + 1]! - 1 : source.length;
      return source.slice(a, b);
    };
    const halve = path !== undefined && testPath.test(path);

    for (const c of this.#rules) {
      const rule = c.rule;
      if (c.paths && (path === undefined || !c.paths.test(path))) continue;
      if (!rule.keywords.some((k) => lower.includes(k))) continue;
      const seen = new Set<number>();
      const contexts = new Map<string, boolean>();
      const regex = c.regex;
      regex.lastIndex = 0;
      for (let m = regex.exec(source); m; m = regex.exec(source)) {
        if (m[0].length === 0) {
          regex.lastIndex++;
          continue;
        }
        let secret: string | undefined;
        let start = m.index;
        if (rule.secret) {
          for (let g = 1; g < m.length; g++) {
            if (m[g]) {
              secret = m[g];
              break;
            }
          }
          if (secret === undefined) continue;
          // The secret is the last thing each secret rule captures, so search from the end.
          const within = m[0].lastIndexOf(secret);
          if (within >= 0) start = m.index + within;
        } else {
          // Skip the leading context character some patterns consume (`(?:^|[^\w])`).
          const lead = m[0].search(/\S/);
          if (lead > 0) start = m.index + lead;
        }
        const line = lineOf(start);
        if (seen.has(line)) continue;
        // The analyzer is about code that runs: comment lines (prose, examples, commented-out
        // code) are skipped. Secrets in comments are the secret scanner's job.
        if (commentLine.test(lines(line, line))) continue;
        const endLine = lineOf(m.index + m[0].length - 1);
        const w = rule.window ?? 0;
        if (c.requires || c.unless) {
          // Many matches can share one (possibly huge) line: test each context once, so the
          // work stays linear in the source size.
          // From the reported line, not m.index: some patterns consume the previous line's break.
          const from = line - w;
          const key = `${from}:${endLine + w}`;
          let ok = contexts.get(key);
          if (ok === undefined) {
            const context = lines(from, endLine + w);
            ok = (!c.requires || c.requires.test(context)) && !c.unless?.test(context);
            contexts.set(key, ok);
          }
          if (!ok) continue;
        }
        if (c.allowMatch.some((a) => a.test(m[0]))) continue;
        if (secret !== undefined) {
          if (new Set(secret).size <= 2) continue;
          if (c.allowSecret.some((a) => a.test(secret))) continue;
        }
        seen.add(line);
        const end = secret !== undefined ? start + secret.length : m.index + m[0].length;
        findings.push({
          ruleId: rule.id,
          category: rule.category,
          severity: rule.severity,
          confidence: halve ? rule.confidence / 2 : rule.confidence,
          message: `${rule.description}; ${rule.remediation}`,
          location: {
            ...(path !== undefined ? { path } : {}),
            line: line + 1,
            column: start - starts[line]! + 1,
            endLine: lineOf(Math.max(start, end - 1)) + 1,
            endColumn: end - starts[lineOf(Math.max(start, end - 1))]! + 1,
            offset: start,
          },
          ...(secret !== undefined ? { match: maskSecret(secret) } : {}),
        });
      }
    }
    findings.sort((a, b) => a.location!.offset! - b.location!.offset! || (a.ruleId < b.ruleId ? -1 : 1));
    return findings;
  }
}

let defaultAnalyzer: AuthPatternAnalyzer | undefined;
const analyzers = new WeakMap<object, AuthPatternAnalyzer>();

function analyzerFor(options: Pick<AuthPatternOptions, 'rules' | 'analyzer'>): AuthPatternAnalyzer {
  if (options.analyzer) return options.analyzer;
  if (!options.rules) return (defaultAnalyzer ??= new AuthPatternAnalyzer(defaultAuthPatternRules));
  let a = analyzers.get(options.rules);
  if (!a) analyzers.set(options.rules, (a = new AuthPatternAnalyzer(options.rules)));
  return a;
}

/**
 * Looks for insecure authentication and crypto patterns in source code: hard-coded
 * credentials, weak password hashing, JWT `none` / unpinned algorithms / disabled expiry,
 * disabled TLS verification, permissive CORS with credentials, insecure session cookies,
 * `Math.random` tokens and SQL built from request input. Findings carry 1-based line and
 * column; a hard-coded secret is reported masked, never raw. Rules with a `paths` condition
 * (configuration files, Python- or Go-only APIs) run only when `path` is given and matches.
 *
 * @example
 * ```ts
 * const [finding] = analyzeAuthPatterns("new https.Agent({ rejectUnauthorized: false })", { path: 'src/client.ts' });
 * // finding.ruleId === 'auth.tls-verification-disabled', finding.location.line === 1
 * ```
 */
export function analyzeAuthPatterns(source: string, options: AuthPatternOptions = {}): Finding[] {
  return analyzerFor(options).analyze(source, options.path !== undefined ? { path: options.path } : {});
}

/** Source and configuration files the directory analysis reads by default. */
const sourceFile =
  /\.(?:[cm]?[jt]sx?|py|go|java|kt|kts|scala|groovy|rb|php|cs|rs|swift|ya?ml|env|properties|ini|toml|conf|cfg|tf|sh)$|(?:^|\/)\.env(?:\.[\w-]+)?$/i;
/** Vendored, generated and minified code: not the project's own. */
const notOwnCode = /(?:^|\/)(?:node_modules|vendor|bower_components|\.venv|venv|__pycache__|dist|build)\/|\.min\.js$/;

/** Options of the file and directory analyses. */
export interface AuthPatternScanOptions extends Pick<ScanOptions, 'gitignore' | 'signal'>, Omit<AuthPatternOptions, 'path'> {
  /** Files larger than this are skipped with a reason (default 4 MiB; a source file is read whole). */
  readonly maxFileSize?: number;
  /** Which files a directory analysis reads (default: source and configuration files by extension, outside vendored and build directories). */
  readonly include?: (path: string) => boolean;
}

/**
 * Analyses one file (read whole, decoded as UTF-8 with replacement). Skips, with a reason and
 * never throwing, files over `maxFileSize`, binaries and unreadable files. `displayPath` is
 * what findings report and what path-specific rules match (default: `path`).
 */
export async function analyzeAuthFile(path: string, options: AuthPatternScanOptions & { displayPath?: string } = {}): Promise<FileScanResult> {
  const shown = options.displayPath ?? path;
  const analyzer = analyzerFor(options);
  const maxFileSize = options.maxFileSize ?? 4 * 1024 * 1024;
  const opened = await openForScan(path, shown, maxFileSize, maxFileSize);
  if ('skipped' in opened) return { path: shown, findings: [], bytes: 0, skipped: opened.skipped };
  try {
    let buffer = opened.head;
    // A short first read (rare for regular files): read the rest.
    while (buffer.length < opened.size) {
      const more = Buffer.allocUnsafe(opened.size - buffer.length);
      const { bytesRead } = opened.handle.read(more, 0, more.length, buffer.length);
      if (bytesRead === 0) break;
      buffer = Buffer.concat([buffer, more.subarray(0, bytesRead)]);
    }
    return { path: shown, findings: analyzer.analyze(buffer.toString('utf8'), { path: shown.split('\\').join('/') }), bytes: buffer.length };
  } catch (error) {
    return { path: shown, findings: [], bytes: 0, skipped: { path: shown, reason: 'unreadable', detail: (error as { code?: string }).code ?? 'error' } };
  } finally {
    opened.handle.close();
  }
}

/**
 * Analyses the source files of a directory tree with the same walk as `scanDirectory`
 * (`.gitignore`, no `.git`, symlinks only inside the root and once, binaries and large files
 * skipped with a reason). Files `include` rejects are counted in `ignoredCount`.
 *
 * @throws ScanTargetError when `root` is not a readable directory
 */
export async function analyzeAuthDirectory(root: string, options: AuthPatternScanOptions = {}): Promise<DirectoryScanResult> {
  const include = options.include ?? ((p: string) => sourceFile.test(p) && !notOwnCode.test(p));
  const analyzer = analyzerFor(options);
  return walkFiles(root, options, async (file, shown) => (include(shown) ? analyzeAuthFile(file, { ...options, analyzer, displayPath: shown }) : undefined));
}
