/**
 * The one finding shape every analyzer of this package returns: input validation, the secret
 * scanner and the auth-pattern analyzer. A finding never carries a raw secret: `match` is
 * always masked (see {@link maskSecret}) and messages name rules, not values.
 */

/** How bad a finding is, from least to most. */
export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** Severities in ascending order, for comparisons and thresholds. */
export const severities: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

/** Numeric rank of a severity on a CVSS-like scale (0.1, 4, 7, 9). */
export function severityScore(severity: Severity): number {
  switch (severity) {
    case 'low':
      return 0.1;
    case 'medium':
      return 4;
    case 'high':
      return 7;
    case 'critical':
      return 9;
  }
}

/** True when `severity` is at least `threshold`. */
export function atLeast(severity: Severity, threshold: Severity): boolean {
  return severities.indexOf(severity) >= severities.indexOf(threshold);
}

/** What kind of weakness a finding describes (OWASP-flavoured). */
export type Category =
  | 'secrets_exposure'
  | 'path_traversal'
  | 'destructive_command'
  | 'remote_code_execution'
  | 'exfiltration'
  | 'sensitive_data'
  | 'ssrf'
  | 'invalid_input'
  | 'broken_auth'
  | 'security_misconfig'
  | 'weak_crypto'
  | 'injection';

/**
 * Where a finding is. Lines and columns are 1-based; columns count UTF-16 code units of the
 * decoded line (what editors and `String#slice` use). `offset` is the 0-based position in the
 * analysed string, when there is one.
 */
export interface Location {
  readonly path?: string;
  readonly line?: number;
  readonly column?: number;
  readonly endLine?: number;
  readonly endColumn?: number;
  readonly offset?: number;
}

/** One result of an analyzer. */
export interface Finding {
  /** Stable rule id, e.g. `aws-access-token`, `path.symlink-escape`, `command.rm-root`. */
  readonly ruleId: string;
  readonly category: Category;
  readonly severity: Severity;
  /** How sure the rule is, in [0, 1]. */
  readonly confidence: number;
  /** What is wrong, for a person; never contains the secret itself. */
  readonly message: string;
  readonly location?: Location;
  /** The matched text, masked: a few leading characters, then `*` ... (see {@link maskSecret}). */
  readonly match?: string;
}

/**
 * Masks a secret for display: keeps at most `keep` leading characters (never more than a
 * quarter of the value, so short secrets show nothing) and replaces the rest with a fixed
 * marker that also gives the length. Never returns the input unchanged.
 *
 * @example
 * ```ts
 * maskSecret('AKIAIOSFODNN7EXAMPLE'); // 'AKIA…[20 chars]'
 * ```
 */
export function maskSecret(secret: string, keep = 4): string {
  const chars = Array.from(secret);
  const shown = Math.max(0, Math.min(keep, Math.floor(chars.length / 4)));
  return `${chars.slice(0, shown).join('')}…[${chars.length} chars]`;
}

/** True when none of `findings` is high or critical: the input may be used as it is. */
export function noBlockingFindings(findings: readonly Finding[]): boolean {
  return findings.every((finding) => !atLeast(finding.severity, 'high'));
}
