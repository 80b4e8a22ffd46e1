/**
 * Ports gitleaks' default rules (config/gitleaks.toml, MIT, (c) Zachary Rice) to
 * src/rules/gitleaks-rules.ts as data, and generates for each rule a true-positive sample
 * (random text matching its regex, as gitleaks' own generator does) and false-positive samples,
 * keeping only samples the scanner classifies as intended.
 *
 * Usage: tsx scripts/port-gitleaks.ts <path to gitleaks.toml> <gitleaks commit>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import RandExp from 'randexp';
import RE2 from 're2';
import { parse } from 'smol-toml';
import { SecretScanner } from '../src/secret-scanner.js';
import type { SecretAllowlist, SecretRule } from '../src/secret-rule.js';

const [tomlPath, commit] = process.argv.slice(2);
if (!tomlPath || !commit) throw new Error('usage: port-gitleaks.ts <gitleaks.toml> <commit>');
const config = parse(readFileSync(tomlPath, 'utf8')) as unknown as {
  allowlist: SecretAllowlist;
  rules: (SecretRule & { allowlists?: SecretAllowlist[] })[];
};

let seed = 0x2545f491;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}

function toJs(source: string): RegExp {
  // Only a leading (?i) covers the whole pattern; a mid-pattern one is dropped, which generates
  // the lower-case variant RE2 also accepts.
  const insensitive = source.startsWith('(?i)');
  const js = source
    .replaceAll('(?i)', '')
    .replaceAll('(?-i:', '(?:')
    .replaceAll('(?i:', '(?:')
    .replaceAll('(?s)', '')
    .replaceAll('(?s:.)', '[\\s\\S]')
    .replaceAll('\\z', '$')
    .replaceAll('(?P<', '(?<')
    .replaceAll('[[:alnum:]]', '[a-zA-Z0-9]');
  return new RegExp(js, insensitive ? 'i' : '');
}

function generate(rule: SecretRule): string | undefined {
  const re = toJs(rule.regex!);
  const gen = new RandExp(re);
  gen.max = 4;
  gen.defaultRange.subtract(0, 32);
  gen.defaultRange.subtract(127, 65535);
  gen.randInt = (a: number, b: number) => a + Math.floor(random() * (b - a + 1));
  return gen.gen();
}

function secretOf(rule: SecretRule, sample: string): string | undefined {
  const m = new RE2(rule.regex!).exec(sample);
  if (!m) return undefined;
  if (rule.secretGroup !== undefined) return m[rule.secretGroup];
  for (let g = 1; g < m.length; g++) if (m[g]) return m[g];
  return m[0];
}

/** Hand-written samples: regexes randexp cannot satisfy, and known false positives from gitleaks' issues. */
const extra: Record<string, { tp?: string[]; fp?: string[] }> = {
  'slack-webhook-url': { tp: ['url = "https://hooks.slack.com/services/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f1Jg0sYa3e7QuT9"'] },
  'curl-auth-header': { tp: ['curl -H "Authorization: Bearer 9fQ2xL7pR4mZ8kT1vB6nW3yH5jD0sC"  https://api.example.com'], fp: ['curl -H "Authorization: Bearer $TOKEN" https://api.example.com'] },
  'curl-auth-user': { tp: ['curl --user deploy:V8q2Lx9RzT4m https://ci.example.com'], fp: ['curl -u user:password https://ci.example.com'] },
  'kubernetes-secret-yaml': { tp: ['apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: cDRzc3cwcmQtUjR4OXEyTHpUN20=\n'] },
  'facebook-access-token': { tp: ['facebook_token = "1234567890123456|Qx7Lm2Rz9Tp4Vb8Nc3Kd6Hf1Jg5"'] },
  'airtable-personnal-access-token': { tp: ['airtable = "patAb3dE5gH7jK9mN.3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f0a9c1e3b5d7f9a2c4e6b8d0f1a"'] },
  'sidekiq-sensitive-url': { tp: ['source "https://3fa9c2d1:7be4f0a8@gems.contribsys.com/"'] },
  'generic-api-key': { fp: ['public_key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"', 'monkey_type = "howler-capuchin-1234567890"', 'api_version = "2023-10-16-preview-abcdef"'] },
  'aws-access-token': { fp: ['aws_access_key_id = AKIAIOSFODNN7EXAMPLE'] },
};

const global = [config.allowlist];
const out: SecretRule[] = [];
let missing = 0;
for (const raw of config.rules) {
  const rule: SecretRule = {
    id: raw.id,
    description: raw.description,
    ...(raw.regex !== undefined ? { regex: raw.regex } : {}),
    ...(raw.secretGroup !== undefined ? { secretGroup: raw.secretGroup } : {}),
    ...(raw.entropy !== undefined ? { entropy: raw.entropy } : {}),
    keywords: raw.keywords ?? [],
    ...(raw.path !== undefined ? { path: raw.path } : {}),
    ...(raw.allowlists ? { allowlists: raw.allowlists } : {}),
  };
  if (!rule.regex) {
    out.push({ ...rule, samples: { truePositives: [], falsePositives: [] } });
    continue;
  }
  const scanner = new SecretScanner([rule], global);
  const path = rule.path ? samplePath(rule.path) : 'sample.txt';
  const found = (text: string) => scanner.scanText(text, { path }).some((f) => f.ruleId === rule.id);
  let tp: string | undefined;
  for (let attempt = 0; attempt < 400 && tp === undefined; attempt++) {
    let candidate: string | undefined;
    try {
      candidate = generate(rule);
    } catch {
      break;
    }
    if (candidate && !candidate.includes('\n') === !rule.regex.includes('\\n') && found(candidate)) tp = candidate;
    else if (candidate && found(candidate)) tp = candidate;
  }
  const fps: string[] = [];
  if (tp !== undefined) {
    const secret = secretOf(rule, tp);
    if (secret) {
      const placeholder = tp.replace(secret, secret[0]!.repeat(secret.length));
      if (!found(placeholder)) fps.push(placeholder);
      const truncated = tp.replace(secret, secret.slice(0, Math.max(1, Math.floor(secret.length / 3))));
      if (truncated !== tp && !found(truncated)) fps.push(truncated);
    }
  }
  const more = extra[rule.id] ?? {};
  const handTps = (more.tp ?? []).filter((sample) => found(sample) || void console.warn(`dropped: ${rule.id} misses its hand-written true positive`));
  const handFps = (more.fp ?? []).filter((sample) => !found(sample) || void console.warn(`dropped: ${rule.id} flags its hand-written false positive`));
  const tps = [...(tp === undefined ? [] : [tp]), ...handTps];
  if (tps.length === 0) missing++;
  out.push({ ...rule, samples: { truePositives: tps, falsePositives: [...fps, ...handFps] } });
}

function samplePath(pattern: string): string {
  const candidates = ['terraform.tfvars', 'main.tf', 'secret.yaml', 'k8s/secret.yml', 'NuGet.config', 'nuget.config', 'freemius.php', 'config.php', 'cert.p12', 'cert.pfx'];
  return candidates.find((c) => new RE2(pattern).test(c)) ?? 'sample.txt';
}

const header = `// Generated by scripts/port-gitleaks.ts from gitleaks' config/gitleaks.toml at commit ${commit}.
// Rules: gitleaks (https://github.com/gitleaks/gitleaks), MIT License, Copyright (c) 2019 Zachary Rice.
// Samples: generated from each rule's regex and checked against the scanner. Do not edit by hand.
import type { SecretAllowlist, SecretRule } from '../secret-rule.js';

`;
const body = `/** gitleaks' global allow-list (paths, placeholder patterns, stopwords). */
export const gitleaksGlobalAllowlist: SecretAllowlist = ${JSON.stringify(config.allowlist, null, 2)};

/** gitleaks' default rules, ${out.length} of them, with samples. */
export const gitleaksRules: readonly SecretRule[] = ${JSON.stringify(out, null, 2)};
`;
writeFileSync(join(import.meta.dirname, '..', 'src', 'rules', 'gitleaks-rules.ts'), header + body);
console.log(`rules: ${out.length}, without a generated true positive: ${missing}`);
