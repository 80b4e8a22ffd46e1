import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redact } from './redact.js';
import { defaultSecretRules } from './rules/index.js';
import { scannerFor } from './scan.js';
import { tokenFormats } from './token-formats.js';

const scanner = scannerFor();

/** Each rule's true-positive samples with the secret the scanner extracts from them. */
const cases = defaultSecretRules.flatMap((rule) => {
  // Rules bound to a file path (Terraform, Kubernetes manifests, NuGet.config) need the path the redactor never has.
  if (!rule.regex || rule.path) return [];
  return (rule.samples?.truePositives ?? []).flatMap((sample) => {
    const f = scanner.scanText(sample).find((x) => x.ruleId === rule.id);
    const chars = Number(/\[(\d+) chars\]$/.exec(f?.match ?? '')?.[1] ?? 0);
    if (!f || f.location?.offset === undefined || chars === 0) return [];
    const secret = Array.from(sample.slice(f.location.offset)).slice(0, chars).join('');
    return [{ id: rule.id, sample, secret }];
  });
});
const formatIds = new Set(tokenFormats.map((f) => f.id));

/** Words that no pattern or rule treats as a credential or its context. */
const word = fc.constantFrom('river', 'stone', 'maple', 'orbit', 'copper', 'lantern', 'meadow', 'harbor', 'violet', 'quartz', 'ember', 'willow');
const words = fc.array(word, { minLength: 1, maxLength: 6 }).map((w) => w.join(' '));

/** Where a piece of text is put: the result and the words that must survive around it. */
type Embed = (piece: string, before: string, after: string) => string;
const textEmbeds: Record<string, Embed> = {
  'log line': (p, b, a) => `2026-12-02T03:00:00.000Z INFO ${b} ${p}\n2026-12-02T03:00:01.000Z WARN ${a}\n`,
  'multi-line block': (p, b, a) => `${b}\n\n${b}\n${p}\n${a}\n${a}\n`,
  header: (p, b, a) => `HTTP/1.1 200 OK\nX-Request-Note: ${b}\nX-Debug: ${p}\nX-Trace: ${a}\n\n`,
  'indented block': (p, b, a) => `${b}:\n  ${p.replaceAll('\n', '\n  ')}\n${a}\n`,
};
/** For self-identifying tokens the bare secret is embedded, so the punctuation around it varies too. */
const tokenEmbeds: Record<string, Embed> = {
  ...textEmbeds,
  'JSON text': (p, b, a) => JSON.stringify({ note: b, value: p, list: [a, p], more: a }),
  URL: (p, b, a) => `GET https://api.example.com/${b.replaceAll(' ', '/')}?q=${a.replaceAll(' ', '+')}&v=${p}&w=${a.replaceAll(' ', '-')} HTTP/1.1\n`,
  quoted: (p, b, a) => `${b} "${p}" '${p}' (${p}) ${a}`,
  'after equals': (p, b, a) => `${b} value=${p}; ${a}`,
};

/** Splits `text` into chunks at `cuts` (sorted fractions). */
function chunks(text: string, cuts: readonly number[]): string[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * text.length)))].toSorted((x, y) => x - y);
  const out: string[] = [];
  let from = 0;
  for (const i of at) {
    out.push(text.slice(from, i));
    from = i;
  }
  out.push(text.slice(from));
  return out;
}

function streamed(parts: readonly string[], options: Parameters<typeof createStreamRedactor>[0]): string {
  const r = createStreamRedactor(options);
  return parts.map((p) => r.write(p)).join('') + r.end();
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });

function expectSurvivors(out: string, before: string, after: string): void {
  for (const w of `${before} ${after}`.split(' ')) expect(out).toContain(w);
}

describe('redact: property, every rule sample', () => {
  it('covers the rules', () => {
    expect(cases.length).toBeGreaterThan(200);
    expect(new Set(cases.filter((c) => formatIds.has(c.id)).map((c) => c.id)).size).toBe(formatIds.size);
  });

  it.each(cases.map((c) => [c.id, c] as const))('%s: with the scanner, in text, objects and streams', (_id, { sample, secret }) => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(textEmbeds)), words, words, cuts, fc.nat({ max: 2 }), (kind, before, after, splits, depth) => {
        const text = textEmbeds[kind]!(sample, before, after);
        const out = redact(text, { scanner, maxStringBytes: 1 << 20 });
        expect(out).not.toContain(secret);
        expectSurvivors(out, before, after);
        const stream = streamed(chunks(text, splits), { scanner, window: 512 });
        expect(stream).not.toContain(secret);
        expectSurvivors(stream, before, after);
        let value: unknown = { note: before, text: sample, list: [after, sample] };
        for (let d = 0; d < depth; d++) value = { level: d, inner: value, tail: after };
        const json = JSON.stringify(redact(value, { scanner }));
        expect(json).not.toContain(JSON.stringify(secret).slice(1, -1));
        expectSurvivors(json, before, after);
      }),
      { numRuns: 12 },
    );
  });

  const tokens = cases.filter((c) => formatIds.has(c.id));
  it.each(tokens.map((c) => [c.id, c] as const))('%s: without the scanner, the bare token anywhere', (_id, { secret }) => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(tokenEmbeds)), words, words, cuts, (kind, before, after, splits) => {
        const text = tokenEmbeds[kind]!(secret, before, after);
        const out = redact(text, { maxStringBytes: 1 << 20 });
        expect(out).not.toContain(secret);
        expectSurvivors(out, before, after);
        for (const window of [256, 8192]) {
          const stream = streamed(chunks(text, splits), { window });
          expect(stream).toBe(out);
        }
        const json = JSON.stringify(redact({ [secret]: before, v: secret, list: [after, `${before} ${secret}`] }));
        expect(json).not.toContain(secret);
        expectSurvivors(json, before, after);
      }),
      { numRuns: 25 },
    );
  });
});
