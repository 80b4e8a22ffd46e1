import type { Category, Severity } from './finding.js';

/**
 * An allow-list: when it matches, a candidate is not reported. Mirrors gitleaks' model so its
 * rules port as data. With `condition: 'OR'` (default) any criterion allows; with `'AND'`
 * every criterion that is set must match.
 */
export interface SecretAllowlist {
  readonly description?: string;
  readonly condition?: 'OR' | 'AND';
  /** What `regexes` test: the extracted secret (default), the whole match, or the line. */
  readonly regexTarget?: 'secret' | 'match' | 'line';
  /** RE2 syntax. */
  readonly regexes?: readonly string[];
  /** Case-insensitive substrings of the secret. */
  readonly stopwords?: readonly string[];
  /** RE2 patterns over the file path (forward slashes, relative to the scan root). */
  readonly paths?: readonly string[];
}

/** One secret-detection rule, as data. */
export interface SecretRule {
  /** Stable id, e.g. `aws-access-token` (gitleaks ids are kept as they are). */
  readonly id: string;
  readonly description: string;
  /** RE2 syntax (Go's, as gitleaks writes it: `(?i)`, `\z`, `(?-i:...)`). Absent for path-only rules. */
  readonly regex?: string;
  /** Which capture group holds the secret; default: the first non-empty group, else the match. */
  readonly secretGroup?: number;
  /** Minimum Shannon entropy (bits per character) of the secret. */
  readonly entropy?: number;
  /** Lower-case literals, at least one of which must appear near a match (cheap pre-filter). */
  readonly keywords: readonly string[];
  /** RE2 pattern over the file path: the rule only applies to matching files (or, without `regex`, flags the file). */
  readonly path?: string;
  readonly allowlists?: readonly SecretAllowlist[];
  readonly severity?: Severity;
  readonly category?: Category;
  /** Known true positives (must be found) and false positives (must not be), checked by the test suite. */
  readonly samples?: { readonly truePositives: readonly string[]; readonly falsePositives: readonly string[] };
}
