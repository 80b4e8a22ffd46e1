import type { SecretAllowlist, SecretRule } from '../secret-rule.js';
import { gitleaksGlobalAllowlist, gitleaksRules } from './gitleaks-rules.js';

/** The default secret rules: gitleaks' default rule set (MIT), ported as data with samples. */
export const defaultSecretRules: readonly SecretRule[] = gitleaksRules;

/** Allow-lists applied to every default rule: gitleaks' global allow-list. */
export const defaultGlobalAllowlists: readonly SecretAllowlist[] = [gitleaksGlobalAllowlist];
