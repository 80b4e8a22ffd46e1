import { BuckleyError, type BuckleyErrorOptions } from '@buckley/utils';

/**
 * The base of errors thrown by @buckley/security. The analyzers themselves return findings
 * rather than throwing; these errors are for misuse (a bad option, a rule that does not
 * compile) and for I/O the caller asked for (a scan root that does not exist).
 */
export class SecurityError extends BuckleyError {}

/** A rule definition is malformed (bad regex, missing samples, unknown field). */
export class InvalidRuleError extends SecurityError {
  /** The id of the offending rule. */
  readonly ruleId: string;

  constructor(ruleId: string, message: string, options?: BuckleyErrorOptions) {
    super('SECURITY_INVALID_RULE', message, options);
    this.ruleId = ruleId;
  }
}

/** The scan target (a file or directory root) cannot be read at all. */
export class ScanTargetError extends SecurityError {
  /** The path that could not be scanned. */
  readonly path: string;

  constructor(path: string, message: string, options?: BuckleyErrorOptions) {
    super('SECURITY_SCAN_TARGET', message, options);
    this.path = path;
  }
}

/** An option passed to a scan is out of range or of the wrong type. */
export class InvalidScanOptionError extends SecurityError {
  /** The name of the offending option. */
  readonly option: string;

  constructor(option: string, message: string, options?: BuckleyErrorOptions) {
    super('SECURITY_INVALID_OPTION', message, options);
    this.option = option;
  }
}

/** True when `error` is a {@link SecurityError} (by shape, across duplicate installs). */
export function isSecurityError(error: unknown): error is SecurityError {
  const code: unknown = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SECURITY_');
}
