import type { Category, Severity } from './finding.js';

/** A snippet an auth-pattern rule must flag (true positive) or leave alone (false positive). */
export interface AuthPatternSample {
  readonly code: string;
  /** Path the sample is analysed as (default `sample.ts`); rules with `paths` need a matching one. */
  readonly path?: string;
}

/**
 * One auth-pattern rule for source code, as data. The regex runs under RE2 (linear time) over
 * the whole source; write `[^\n]` rather than `.` where a match must stay on one line.
 */
export interface AuthPatternRule {
  /** Stable id, `auth.<name>`. */
  readonly id: string;
  /** What is wrong, for a person (the finding's message). */
  readonly description: string;
  readonly category: Category;
  readonly severity: Severity;
  /** Confidence in [0, 1] for a match outside test code (halved in test paths). */
  readonly confidence: number;
  /** RE2 syntax. */
  readonly regex: string;
  /** Lower-case literals; the rule runs only on sources containing at least one (cheap pre-filter). */
  readonly keywords: readonly string[];
  /** RE2 over the path (forward slashes): the rule runs only on matching files, never without a path. */
  readonly paths?: string;
  /** RE2 that must match within `window` lines around the match (e.g. `credentials: true` near `origin: '*'`). */
  readonly requires?: string;
  /** RE2 that must not match within `window` lines around the match (e.g. `algorithms` near `jwt.verify(`). */
  readonly unless?: string;
  /** Lines either side of the match that `requires` and `unless` look at (default 0: the match's own lines). */
  readonly window?: number;
  /**
   * The match holds a hard-coded secret in its first non-empty capture group: the finding's
   * `match` is that secret masked, and placeholders (two or fewer distinct characters, or
   * `allow.secret`) are not reported.
   */
  readonly secret?: boolean;
  /** Suppressions: RE2 patterns over the whole match or over the secret. */
  readonly allow?: { readonly match?: readonly string[]; readonly secret?: readonly string[] };
  /** How to fix it. */
  readonly remediation: string;
  /** Checked by the test suite: every true positive is flagged by this rule, no false positive is. */
  readonly samples: { readonly truePositives: readonly AuthPatternSample[]; readonly falsePositives: readonly AuthPatternSample[] };
}
