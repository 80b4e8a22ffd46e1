import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidScanOptionError } from './errors.js';
import { growthRatio } from './linear-time.test-helper.js';
import { scanDirectory, scanFile, scanString } from './scan.js';

/** Hostile one-line inputs of about `n` bytes: every rule's cost must stay linear in them. */
const shapes: Record<string, (n: number) => string> = {
  // One line of generic-rule hits: each candidate used to test the whole line against the rule's line allow-lists.
  'key="..." repeated': (n) => 'key="aB3dE5gH7jK9" '.repeat(Math.ceil(n / 19)),
  // The same behind non-ASCII text: byte offsets of the whole-chunk pass map back to UTF-16 per match.
  'non-ASCII key="..." repeated': (n) => 'ключ key="aB3dE5gH7jK9" '.repeat(Math.ceil(n / 29)),
  // One-line JSON full of credentials and tokens.
  'one-line JSON of credentials': (n) =>
    `{${Array.from({ length: Math.ceil(n / 92) }, (_, i) => `"password${i}":"Xy7#kP2!qL9@wE${i}","token":"ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q"`).join(',')}}`,
  // A minified bundle: many keywords, a few real-looking keys per statement.
  'minified bundle': (n) => 'var a=function(){return {apiKey:"AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",secret:"s3cr3tV4lu3xx"}};'.repeat(Math.ceil(n / 95)),
  // Opening markers of multi-line rules that never close.
  'unclosed PEM and YAML openers': (n) => '-----BEGIN PRIVATE KEY----- kind: Secret data: '.repeat(Math.ceil(n / 48)),
};

describe('scanning stays linear in the input', () => {
  it.each(Object.keys(shapes))(
    '%s: 8 MB takes less than 32x the time of 1 MB',
    (name) => {
      const make = shapes[name]!;
      const { ratio, attempts } = growthRatio(make, (input) => scanString(input), 1024 * 1024, 1);
      expect({ linear: ratio < 32, attempts }).toMatchObject({ linear: true });
    },
    240_000,
  );
});

describe('per-file time budget', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'buckley-budget-')));
    writeFileSync(join(dir, 'bomb.json'), shapes['key="..." repeated']!(1024 * 1024));
    writeFileSync(join(dir, 'small.ts'), 'const t = "ghp_Zx8Kq2Lm7Rt4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Q";\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a file not scanned in time as skipped: time_budget, keeping what it found', async () => {
    const result = await scanFile(join(dir, 'bomb.json'), { timeBudgetMs: 20 });
    expect(result.skipped).toMatchObject({ reason: 'time_budget' });
    expect(result.skipped?.detail).toMatch(/^not scanned in 20 ms: 0 of 1048\d+ bytes fully scanned/);
    // A budget no loaded machine runs out of: the whole file is scanned.
    const full = await scanFile(join(dir, 'bomb.json'), { timeBudgetMs: 600_000 });
    expect(full.skipped).toBeUndefined();
    expect(result.findings.length).toBeLessThan(full.findings.length);
    // The findings kept are findings of the full scan, with the same locations.
    const all = new Set(full.findings.map((f) => JSON.stringify(f)));
    expect(result.findings.every((f) => all.has(JSON.stringify(f)))).toBe(true);
  }, 120_000);

  it('lists the skipped file in a directory scan and scans the others', async () => {
    const result = await scanDirectory(dir, { timeBudgetMs: 20 });
    expect(result.skipped.map((s) => [s.path, s.reason])).toEqual([['bomb.json', 'time_budget']]);
    expect(result.filesScanned).toBe(1);
    expect(result.findings.some((f) => f.location?.path === 'small.ts' && f.ruleId === 'github-pat')).toBe(true);
  }, 120_000);

  it('rejects a budget that is not a positive number with a typed error', async () => {
    for (const bad of [0, -1, Number.NaN, '10' as unknown as number]) {
      await expect(scanFile(join(dir, 'small.ts'), { timeBudgetMs: bad })).rejects.toBeInstanceOf(InvalidScanOptionError);
      await expect(scanDirectory(dir, { timeBudgetMs: bad })).rejects.toMatchObject({ code: 'SECURITY_INVALID_OPTION', option: 'timeBudgetMs' });
    }
  });
});
