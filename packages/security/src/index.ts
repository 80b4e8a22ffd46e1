// The main entry: input validation, command analysis, redaction. It loads neither the RE2
// addon nor the rule data; the scanners are in `@buckley/security/scanner`.
export { severities, severityScore, atLeast, maskSecret, noBlockingFindings } from './finding.js';
export type { Severity, Category, Location, Finding } from './finding.js';
export { SecurityError, InvalidRuleError, InvalidScanOptionError, ScanTargetError, isSecurityError } from './errors.js';
export { validatePath, validatePathSync } from './path.js';
export type { ValidatePathOptions, PathValidation } from './path.js';
export { analyzeCommand } from './command.js';
export type { CommandAnalysis, AnalyzeCommandOptions, Expansion, Redirection, SimpleCommand, Word, CommandContext, VariableAssignment } from './command.js';
export { validateUrl, classifyAddress } from './url.js';
export type { ValidateUrlOptions, UrlValidation, AddressClass } from './url.js';
export { redact, createStreamRedactor, truncateUtf8, tooDeepMarker } from './redact.js';
export { isSensitiveKey } from './sensitive-names.js';
export type { RedactOptions, StreamRedactor, StreamRedactorOptions } from './redact.js';
