/**
 * Ports gitleaks' default rules (config/gitleaks.toml, MIT, (c) Zachary Rice) to
 * src/rules/gitleaks-rules.ts as data, each rule with a few samples (a true positive generated
 * from its regex, hand-written ones, and a placeholder false positive), and gitleaks' own full
 * sample sets, extracted from its generator (cmd/generate/config, see gitleaks-samples.ts), to
 * src/rules/gitleaks-samples.ts. No sample is filtered by what the scanner does: the test suite
 * checks them all.
 *
 * Usage: tsx scripts/port-gitleaks.ts <gitleaks checkout> <gitleaks commit>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import RE2 from 're2';
import { shannonEntropy } from '../src/secret-scanner.js';
import { parse } from 'smol-toml';
import type { SecretAllowlist, SecretRule } from '../src/secret-rule.js';
import { extractSamples, generate as generateFrom, seededRandom } from './gitleaks-samples.js';

const [checkout, commit] = process.argv.slice(2);
if (!checkout || !commit) throw new Error('usage: port-gitleaks.ts <gitleaks checkout> <commit>');
const config = parse(readFileSync(join(checkout, 'config', 'gitleaks.toml'), 'utf8')) as unknown as {
  allowlist: SecretAllowlist;
  rules: (SecretRule & { allowlists?: SecretAllowlist[] })[];
};

const random = seededRandom(0x2545f491);
const generate = (rule: SecretRule): string => generateFrom(rule.regex!, random);

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
  'curl-auth-header': {
    tp: ['curl -H "Authorization: Bearer 9fQ2xL7pR4mZ8kT1vB6nW3yH5jD0sC"  https://api.example.com'],
    fp: ['curl -H "Authorization: Bearer $TOKEN" https://api.example.com'],
  },
  'curl-auth-user': { tp: ['curl --user deploy:V8q2Lx9RzT4m https://ci.example.com'], fp: ['curl -u user:password https://ci.example.com'] },
  'kubernetes-secret-yaml': { tp: ['apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: cDRzc3cwcmQtUjR4OXEyTHpUN20=\n'] },
  'facebook-access-token': { tp: ['facebook_token = "1234567890123456|Qx7Lm2Rz9Tp4Vb8Nc3Kd6Hf1Jg5"'] },
  'airtable-personnal-access-token': { tp: ['airtable = "patAb3dE5gH7jK9mN.3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f0a9c1e3b5d7f9a2c4e6b8d0f1a"'] },
  'sidekiq-sensitive-url': { tp: ['source "https://3fa9c2d1:7be4f0a8@gems.contribsys.com/"'] },
  'generic-api-key': {
    fp: [
      'public_key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"',
      'monkey_type = "howler-capuchin-1234567890"',
      'api_version = "2023-10-16-preview-abcdef"',
    ],
  },
  'aws-access-token': { fp: ['aws_access_key_id = AKIAIOSFODNN7EXAMPLE'] },
};

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
  // A generated sample is kept when it matches the rule's regex (under RE2) with the rule's
  // entropy and holds a keyword, as gitleaks requires: randexp only approximates Go's syntax.
  // The scanner is not asked.
  let tp: string | undefined;
  for (let attempt = 0; attempt < 400 && tp === undefined; attempt++) {
    let candidate: string | undefined;
    try {
      candidate = generate(rule);
    } catch {
      break;
    }
    const secret = candidate ? secretOf(rule, candidate) : undefined;
    const keyword = rule.keywords.length === 0 || rule.keywords.some((k) => candidate!.toLowerCase().includes(k.toLowerCase()));
    if (secret && keyword && (rule.entropy === undefined || shannonEntropy(secret) >= rule.entropy) && new Set(secret).size > 2) tp = candidate;
  }
  const fps: string[] = [];
  if (tp !== undefined) {
    const secret = secretOf(rule, tp)!;
    // The secret replaced by one repeated character: a placeholder, never a secret.
    fps.push(tp.replace(secret, secret[0]!.repeat(secret.length)));
  }
  const more = extra[rule.id] ?? {};
  const tps = [...(tp === undefined ? [] : [tp]), ...(more.tp ?? [])];
  if (tps.length === 0) missing++;
  out.push({ ...rule, samples: { truePositives: tps, falsePositives: [...fps, ...(more.fp ?? [])] } });
}

const stopwords = config.rules.find((r) => r.id === 'generic-api-key')!.allowlists!.flatMap((a) => a.stopwords ?? []);
const { samples, problems } = extractSamples(join(checkout, 'cmd', 'generate', 'config'), stopwords);
for (const [id, list] of problems) console.warn(`gitleaks samples of ${id}: not evaluated: ${list.join('; ')}`);
const ported = Object.fromEntries(out.filter((r) => samples.has(r.id)).map((r) => [r.id, samples.get(r.id)!]));

const header = `// Generated by scripts/port-gitleaks.ts from gitleaks' config/gitleaks.toml at commit ${commit}.
// Rules: gitleaks (https://github.com/gitleaks/gitleaks), MIT License, Copyright (c) 2019 Zachary Rice.
// Samples: generated from each rule's regex, or written by hand. Do not edit by hand.
import type { SecretAllowlist, SecretRule } from '../secret-rule.js';

`;
const body = `/** gitleaks' global allow-list (paths, placeholder patterns, stopwords). */
export const gitleaksGlobalAllowlist: SecretAllowlist = ${JSON.stringify(config.allowlist, null, 2)};

/** gitleaks' default rules, ${out.length} of them, with samples. */
export const gitleaksRules: readonly SecretRule[] = ${JSON.stringify(out, null, 2)};
`;
writeFileSync(join(import.meta.dirname, '..', 'src', 'rules', 'gitleaks-rules.ts'), header + body);
const count = Object.values(ported).reduce((n, s) => n + s.truePositives.length + s.falsePositives.length, 0);
const samplesFile = `// Generated by scripts/port-gitleaks.ts from gitleaks' rule generator (cmd/generate/config) at commit ${commit}.
// gitleaks (https://github.com/gitleaks/gitleaks), MIT License, Copyright (c) 2019 Zachary Rice.
// Each rule's own true- and false-positive samples as gitleaks validates them (random parts
// generated with a fixed seed). Test data: no entry point loads it. Do not edit by hand.

/** A sample: text alone, or text scanned under a file path. */
export type GitleaksSample = string | { readonly path: string; readonly text: string };

/** gitleaks' samples by rule id (${Object.keys(ported).length} rules, ${count} samples). */
export const gitleaksSamples: Readonly<Record<string, { readonly truePositives: readonly GitleaksSample[]; readonly falsePositives: readonly GitleaksSample[] }>> = ${JSON.stringify(ported, null, 1)};
`;
writeFileSync(join(import.meta.dirname, '..', 'src', 'rules', 'gitleaks-samples.ts'), samplesFile);
console.log(`rules: ${out.length}, without a generated true positive: ${missing}; gitleaks samples for ${Object.keys(ported).length} rules (${count})`);
