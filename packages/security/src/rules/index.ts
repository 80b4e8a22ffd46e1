import type { SecretAllowlist, SecretRule } from '../secret-rule.js';
import { buckleyRules } from './buckley-rules.js';
import { gitleaksGlobalAllowlist, gitleaksRules } from './gitleaks-rules.js';

/**
 * The default secret rules: gitleaks' default rule set (MIT), ported as data with samples, and
 * Buckley's own for credentials in URLs and password assignments.
 */
export const defaultSecretRules: readonly SecretRule[] = [...gitleaksRules, ...buckleyRules];

/** Allow-lists applied to every default rule: gitleaks' global allow-list. */
export const defaultGlobalAllowlists: readonly SecretAllowlist[] = [gitleaksGlobalAllowlist];
