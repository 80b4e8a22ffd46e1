// The `@buckley/security/scanner` entry: the file and tree analyzers, which load the RE2 addon
// and the rule data. The main entry (validation, command analysis, redaction) loads neither.
export { SecretScanner, shannonEntropy } from './secret-scanner.js';
export type { SecretScanOptions } from './secret-scanner.js';
export type { SecretRule, SecretAllowlist } from './secret-rule.js';
export { defaultSecretRules, defaultGlobalAllowlists } from './rules/index.js';
export { scanString, scanFile, scanDirectory, scannerFor } from './scan.js';
export type { ScanOptions, SkipReason, SkippedFile, FileScanResult, DirectoryScanResult } from './scan.js';
export { AuthPatternAnalyzer, analyzeAuthPatterns, analyzeAuthFile, analyzeAuthDirectory } from './auth-patterns.js';
export type { AuthPatternOptions, AuthPatternScanOptions } from './auth-patterns.js';
export type { AuthPatternRule, AuthPatternSample } from './auth-rule.js';
export { defaultAuthPatternRules } from './rules/auth-rules.js';
