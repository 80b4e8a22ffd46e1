import RE2 from 're2';
import { describe, expect, it } from 'vitest';
import { gitleaksRules } from './rules/gitleaks-rules.js';
import { gitleaksSamples } from './rules/gitleaks-samples.js';
import { defaultGlobalAllowlists, defaultSecretRules } from './rules/index.js';
import { SecretScanner, shannonEntropy } from './secret-scanner.js';
import { scanString } from './scan.js';

const scanner = new SecretScanner(defaultSecretRules, defaultGlobalAllowlists);

function pathFor(rule: (typeof defaultSecretRules)[number]): string {
  const candidates = [
    'terraform.tfvars',
    'main.tf',
    'secret.yaml',
    'k8s/secret.yml',
    'NuGet.config',
    'nuget.config',
    'freemius.php',
    'config.php',
    'cert.p12',
    'cert.pfx',
  ];
  if (!rule.path) return 'sample.txt';
  return candidates.find((c) => new RE2(rule.path!).test(c)) ?? 'sample.txt';
}

describe('default secret rules', () => {
  it('ports at least gitleaks default rule set, every regex compiling under RE2', () => {
    expect(defaultSecretRules.length).toBeGreaterThanOrEqual(224);
    expect(scanner.size).toBe(defaultSecretRules.length);
    expect(new Set(defaultSecretRules.map((r) => r.id)).size).toBe(defaultSecretRules.length);
  });

  const contentRules = defaultSecretRules.filter((r) => r.regex);
  it.each(contentRules.map((r) => [r.id, r] as const))('%s: finds its true positives and not its false positives', (id, rule) => {
    const path = pathFor(rule);
    const tps = rule.samples?.truePositives ?? [];
    expect(tps.length).toBeGreaterThan(0);
    for (const sample of tps) {
      const found = scanner.scanText(sample, { path }).filter((f) => f.ruleId === id);
      expect({ sample, found: found.length > 0 }).toEqual({ sample, found: true });
      for (const f of found) expect(f.match).toMatch(/…\[\d+ chars\]$/);
    }
    for (const sample of rule.samples?.falsePositives ?? []) {
      const found = scanner.scanText(sample, { path }).filter((f) => f.ruleId === id);
      expect({ sample, found: found.length }).toEqual({ sample, found: 0 });
    }
  });

  // The same samples after 300 lines of the rule's own keywords and those of the generic and JWT
  // rules: the keywords get frequent, so the rules run over the whole chunk's UTF-8 bytes (or
  // their search pattern does, the rule then running on the lines it found) instead of line by
  // line, behind non-ASCII text whose UTF-16 and UTF-8 offsets differ.
  it.each(contentRules.map((r) => [r.id, r] as const))('%s: finds its true positives in a whole-chunk pass too', (id, rule) => {
    const path = pathFor(rule);
    const filler = Array.from({ length: 300 }, (_, i) => `// ключ 😀 key token ey ${rule.keywords.join(' ')} ${i}`).join('\n');
    for (const sample of rule.samples?.truePositives ?? []) {
      // Blank lines keep multi-line rules (curl continuations) from starting in the filler.
      const found = scanner.scanText(`${filler}${'\n'.repeat(13)}${sample}\n`, { path }).filter((f) => f.ruleId === id && f.location!.line! > 312);
      expect({ sample, found: found.length > 0 }).toEqual({ sample, found: true });
      const alone = scanner.scanText(sample, { path }).filter((f) => f.ruleId === id);
      expect(found.map((f) => [f.location!.line! - 312, f.location!.column, f.match])).toEqual(
        alone.map((f) => [f.location!.line, f.location!.column, f.match]),
      );
    }
  });

  // gitleaks' own sample sets, ported from its generator (every template, XML multi-line
  // elements included): each rule finds all of its true positives and none of its false ones.
  const ported = Object.entries(gitleaksSamples);
  it('has gitleaks samples for every default rule gitleaks validates', () => {
    const withoutSamples = gitleaksRules.filter((r) => !gitleaksSamples[r.id]).map((r) => r.id);
    // These two have no samples in gitleaks' generator either ("validate TODO").
    expect(withoutSamples).toEqual(['dropbox-long-lived-api-token', 'dropbox-short-lived-api-token']);
    expect(ported.reduce((n, [, s]) => n + s.truePositives.length, 0)).toBeGreaterThan(6000);
  });
  it.each(ported.filter(([id]) => defaultSecretRules.some((r) => r.id === id && r.regex)))(
    "%s: finds all of gitleaks' true positives and none of its false positives",
    (id, samples) => {
      const rule = defaultSecretRules.find((r) => r.id === id)!;
      const missed: string[] = [];
      const flagged: string[] = [];
      for (const sample of samples.truePositives) {
        const [text, path] = typeof sample === 'string' ? [sample, pathFor(rule)] : [sample.text, sample.path];
        if (!scanner.scanText(text, { path }).some((f) => f.ruleId === id)) missed.push(text);
      }
      for (const sample of samples.falsePositives) {
        const [text, path] = typeof sample === 'string' ? [sample, pathFor(rule)] : [sample.text, sample.path];
        if (scanner.scanText(text, { path }).some((f) => f.ruleId === id)) flagged.push(text);
      }
      expect({ missed, flagged }).toEqual({ missed: [], flagged: [] });
    },
  );

  // gitleaks' samples (multi-line XML templates included) behind a few lines of the rule's
  // keywords, so the rule runs over the whole chunk: found at the same place as alone.
  it.each(ported.filter(([id]) => defaultSecretRules.some((r) => r.id === id && r.regex)))(
    "%s: finds gitleaks' true positives in a whole-chunk pass too",
    (id, samples) => {
      const rule = defaultSecretRules.find((r) => r.id === id)!;
      const filler = Array.from({ length: 12 }, (_, i) => `// ключ ${rule.keywords.join(' ')} ${i}`).join('\n');
      const differ: string[] = [];
      for (const sample of samples.truePositives) {
        const [text, path] = typeof sample === 'string' ? [sample, pathFor(rule)] : [sample.text, sample.path];
        const where = (fs: readonly { ruleId: string; location?: { line?: number; column?: number } }[], shift: number) =>
          fs.filter((f) => f.ruleId === id && f.location!.line! > shift).map((f) => `${f.location!.line! - shift}:${f.location!.column}`);
        const alone = where(scanner.scanText(text, { path }), 0);
        const behind = where(scanner.scanText(`${filler}${'\n'.repeat(13)}${text}\n`, { path }), 24);
        if (alone.length === 0 || JSON.stringify(alone) !== JSON.stringify(behind)) differ.push(text);
      }
      expect(differ).toEqual([]);
    },
  );

  it('path-only rules (no content pattern) report a matching file name, and only that', () => {
    const pathOnly = defaultSecretRules.filter((r) => !r.regex);
    expect(pathOnly.map((r) => r.id)).toEqual(['pkcs12-file']);
    expect(scanner.pathFindings('certs/client.p12').findings.map((f) => f.ruleId)).toEqual(['pkcs12-file']);
    expect(scanner.pathFindings('certs/CLIENT.PFX').findings.map((f) => f.ruleId)).toEqual(['pkcs12-file']);
    expect(scanner.pathFindings('certs/client.p12.txt').findings).toEqual([]);
  });

  it('has false-positive samples for nearly every rule', () => {
    const missing = contentRules.filter((r) => (r.samples?.falsePositives.length ?? 0) === 0).map((r) => r.id);
    expect(missing.length).toBeLessThanOrEqual(5);
  });
});

describe('scanString', () => {
  it('reports rule, location and a masked match, never the secret', () => {
    const secret = 'ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q';
    const text = `line one\n  const token = "${secret}";\n`;
    const findings = scanString(text, { path: 'src/a.ts' });
    const f = findings.find((x) => x.ruleId === 'github-pat');
    expect(f).toMatchObject({ category: 'secrets_exposure', location: { path: 'src/a.ts', line: 2, column: 18 } });
    expect(f!.severity).toBe('high');
    expect(JSON.stringify(findings)).not.toContain(secret.slice(6));
  });

  it('locates a secret after non-ASCII text in UTF-16 terms on both scan paths', () => {
    const secret = 'ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q';
    const line = `/* ключ 😀 */ const t = "${secret}";`;
    for (const repeat of [1, 300]) {
      // 300 lines mentioning `ghp_` make the keyword frequent: the rule then runs over the whole chunk.
      const filler = Array.from({ length: repeat }, (_, i) => `// 😀 ghp_ ${i}`).join('\n');
      const text = `${filler}\n${line}\n${filler}`;
      const f = scanString(text).find((x) => x.ruleId === 'github-pat');
      expect(f?.location).toMatchObject({ line: repeat + 1, column: line.indexOf(secret) + 1, offset: text.indexOf(secret) });
    }
  });

  it('keeps finding secrets once their keywords became frequent (then only tested for presence)', () => {
    const fresh = new SecretScanner(defaultSecretRules, defaultGlobalAllowlists);
    const secret = 'ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q';
    fresh.scanText(Array.from({ length: 300 }, (_, i) => `// ghp_ key token ${i}`).join('\n'));
    expect(fresh.scanText(`x = "${secret}"`).map((f) => f.ruleId)).toContain('github-pat');
    expect(fresh.scanText(`API_KEY = "Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1"`).map((f) => f.ruleId)).toEqual(['generic-api-key']);
    expect(fresh.scanText('nothing to see here\n'.repeat(10))).toEqual([]);
    expect(fresh.scanText(`// a TOKEN\n${'filler\n'.repeat(5)}const t = "${secret}";`).map((f) => [f.ruleId, f.location?.line])).toEqual([['github-pat', 7]]);
  });

  it('applies entropy thresholds and allow-lists', () => {
    expect(scanString('aws_key = "AKIAIOSFODNN7EXAMPLE"')).toEqual([]);
    expect(scanString('password = "xxxxxxxxxxxxxxxxxxxx"')).toEqual([]);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBe(2);
  });

  it('handles empty and odd input without throwing', () => {
    expect(scanString('')).toEqual([]);
    expect(scanString(undefined as unknown as string)).toEqual([]);
    expect(scanString('\uFFFD\uD800 lone surrogate and replacement chars')).toEqual([]);
  });
});
