export { severities, severityScore, atLeast, maskSecret, noBlockingFindings } from './finding.js';
export type { Severity, Category, Location, Finding } from './finding.js';
export { SecurityError, InvalidRuleError, ScanTargetError, isSecurityError } from './errors.js';
export { validatePath, validatePathSync, isInside } from './path.js';
export type { ValidatePathOptions, PathValidation } from './path.js';
export { analyzeCommand } from './command.js';
export type { CommandAnalysis, AnalyzeCommandOptions, Expansion, Redirection, SimpleCommand, Word, CommandContext } from './command.js';
export { validateUrl, classifyAddress } from './url.js';
export type { ValidateUrlOptions, UrlValidation, AddressClass } from './url.js';
