import { describe, expect, it } from 'vitest';
import { AuthPatternAnalyzer, analyzeAuthPatterns } from './auth-patterns.js';
import type { AuthPatternRule } from './auth-rule.js';
import { InvalidRuleError } from './errors.js';
import { maskSecret } from './finding.js';
import { growthRatio } from './linear-time.test-helper.js';
import { defaultAuthPatternRules } from './rules/auth-rules.js';

const analyzer = new AuthPatternAnalyzer(defaultAuthPatternRules);

describe('default auth-pattern rules', () => {
  it('have unique ids, keywords in lower case, and fixtures on both sides', () => {
    expect(new Set(defaultAuthPatternRules.map((r) => r.id)).size).toBe(defaultAuthPatternRules.length);
    expect(analyzer.size).toBe(defaultAuthPatternRules.length);
    for (const rule of defaultAuthPatternRules) {
      expect(rule.id).toMatch(/^auth\.[a-z-]+$/);
      for (const k of rule.keywords) expect(k).toBe(k.toLowerCase());
      expect({ id: rule.id, tp: rule.samples.truePositives.length > 0, fp: rule.samples.falsePositives.length > 0 }).toEqual({
        id: rule.id,
        tp: true,
        fp: true,
      });
    }
  });

  it.each(defaultAuthPatternRules.map((r) => [r.id, r] as const))('%s: flags its true positives and not its false positives', (id, rule) => {
    for (const { code, path = 'sample.ts' } of rule.samples.truePositives) {
      const found = analyzer.analyze(code, { path }).filter((f) => f.ruleId === id);
      expect({ code, found: found.length }).toEqual({ code, found: 1 });
      const f = found[0]!;
      expect(f).toMatchObject({ category: rule.category, severity: rule.severity, confidence: rule.confidence, location: { path } });
      // The reported position is inside the sample.
      const line = code.split('\n')[f.location!.line! - 1];
      expect(line).toBeDefined();
      expect(f.location!.column!).toBeGreaterThanOrEqual(1);
      expect(f.location!.column!).toBeLessThanOrEqual(line!.length);
      // A secret is reported masked, and its offset and length point at the secret in the code.
      const length = Number(/…\[(\d+) chars\]$/.exec(f.match ?? '')?.[1] ?? 0);
      const at = f.location!.offset!;
      expect(f.match).toBe(rule.secret ? maskSecret(code.slice(at, at + length)) : undefined);
      expect(length > 0).toBe(rule.secret === true);
    }
    for (const { code, path = 'sample.ts' } of rule.samples.falsePositives) {
      const found = analyzer.analyze(code, { path }).filter((f) => f.ruleId === id);
      expect({ code, found: found.length }).toEqual({ code, found: 0 });
    }
  });
});

describe('analyzeAuthPatterns', () => {
  it('reports line, column and the masked secret, never the secret itself', () => {
    const source = ['import x from "y";', '', 'const config = {', '  dbPassword: "Tr0ub4dor&3xyz",', '};'].join('\n');
    const findings = analyzeAuthPatterns(source, { path: 'src/config.ts' });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      ruleId: 'auth.hardcoded-credential',
      category: 'secrets_exposure',
      location: { path: 'src/config.ts', line: 4, column: 16, endLine: 4, endColumn: 30 },
      match: 'Tr0…[14 chars]',
    });
    expect(JSON.stringify(findings)).not.toContain('Tr0ub4dor&3xyz');
  });

  it('finds several rules in one file, ordered by position', () => {
    const source = [
      'const agent = new https.Agent({ rejectUnauthorized: false });',
      "app.use(cors({ origin: '*', credentials: true }));",
      "const token = jwt.sign(user, 'my-signing-key', { algorithm: 'none' });",
    ].join('\n');
    const ids = analyzeAuthPatterns(source, { path: 'server.js' }).map((f) => `${f.location?.line}:${f.ruleId}`);
    expect(ids).toEqual([
      '1:auth.tls-verification-disabled',
      '2:auth.cors-wildcard-with-credentials',
      '3:auth.hardcoded-jwt-secret',
      '3:auth.jwt-none-algorithm',
    ]);
  });

  it('halves confidence in test code and skips path-specific rules without a path', () => {
    const [inTest] = analyzeAuthPatterns('const password = "hunter2hunter2";', { path: 'src/__tests__/login.test.ts' });
    expect(inTest?.confidence).toBe(0.35);
    expect(analyzeAuthPatterns('DB_PASSWORD=hunter2hunter2')).toEqual([]);
    expect(analyzeAuthPatterns('DB_PASSWORD=hunter2hunter2', { path: '.env' }).map((f) => f.ruleId)).toEqual(['auth.hardcoded-credential-config']);
  });

  it('handles empty, non-string and odd input without throwing', () => {
    expect(analyzeAuthPatterns('')).toEqual([]);
    expect(analyzeAuthPatterns(undefined as unknown as string)).toEqual([]);
    expect(analyzeAuthPatterns('\uFFFD\uD800 password = "\uD800\uDC00\uD83D"')).toEqual([]);
  });

  it('accepts custom rules and rejects ones RE2 cannot compile or without keywords', () => {
    const rule: AuthPatternRule = {
      id: 'auth.custom',
      description: 'custom',
      category: 'broken_auth',
      severity: 'low',
      confidence: 0.5,
      regex: String.raw`allowAll\(\)`,
      keywords: ['allowall'],
      remediation: 'do not',
      samples: { truePositives: [{ code: 'allowAll()' }], falsePositives: [{ code: 'allow()' }] },
    };
    expect(analyzeAuthPatterns('x.allowAll();', { rules: [rule] }).map((f) => f.ruleId)).toEqual(['auth.custom']);
    expect(() => new AuthPatternAnalyzer([{ ...rule, regex: '(?<=x)y' }])).toThrow(InvalidRuleError);
    expect(() => new AuthPatternAnalyzer([{ ...rule, keywords: [] }])).toThrow(InvalidRuleError);
  });

  it('stays linear on pattern-bomb input', () => {
    const bomb = (n: number): string =>
      `password = "${'a'.repeat(n)}` +
      `\n${'password:'.repeat(n / 10)}` +
      `\nSELECT ${'x '.repeat(n / 4)} FROM ` +
      `\n${"origin: '*', ".repeat(n / 20)}` +
      `\n${'bcrypt.hash('.repeat(n / 20)}`;
    const { ratio, attempts } = growthRatio(bomb, (input) => analyzeAuthPatterns(input, { path: 'x.yaml' }), 100_000);
    expect({ ratio: ratio < 32, attempts }).toMatchObject({ ratio: true });
  }, 60_000);
});
