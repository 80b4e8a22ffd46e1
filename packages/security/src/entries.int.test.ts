import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * Imports `specifier` in a fresh Node process (TypeScript sources through Node's own type
 * stripping and transform, `.js` specifiers mapped to the `.ts` files) and reports whether the RE2 addon is
 * mapped into the process and which of the package's modules were loaded.
 */
function load(specifier: string): { re2: boolean; modules: string[]; exports: string[] } {
  const child = `
    import { registerHooks } from 'node:module';
    import { readFileSync } from 'node:fs';
    const loaded = [];
    registerHooks({
      resolve(spec, context, next) {
        let result;
        try { result = next(spec, context); } catch (error) {
          if (!spec.endsWith('.js')) throw error;
          result = next(spec.slice(0, -3) + '.ts', context);
        }
        if (result.url.includes('/packages/security/src/')) loaded.push(result.url.split('/packages/security/src/')[1]);
        return result;
      },
    });
    const mod = await import(${JSON.stringify(specifier)});
    const re2 = readFileSync('/proc/self/maps', 'utf8').includes('re2.node');
    console.log(JSON.stringify({ re2, modules: loaded.sort(), exports: Object.keys(mod).sort() }));
  `;
  const out = execFileSync(
    process.execPath,
    ['--conditions=@buckley/source', '--experimental-transform-types', '--no-warnings', '--input-type=module', '-e', child],
    { cwd: import.meta.dirname, encoding: 'utf8' },
  );
  return JSON.parse(out) as { re2: boolean; modules: string[]; exports: string[] };
}

describe('entry points', () => {
  it('the main entry loads neither the RE2 addon nor the rule data', () => {
    const main = load('@buckley/security');
    expect(main.exports).toEqual(expect.arrayContaining(['analyzeCommand', 'redact', 'validatePath', 'validateUrl', 'maskSecret', 'InvalidRuleError']));
    expect(main.re2).toBe(false);
    expect(main.modules.filter((m) => m.startsWith('rules/') || m.startsWith('secret-scanner') || m.startsWith('scan'))).toEqual([]);
  });

  it('the scanner entry has the scanners and loads RE2 and the rules', () => {
    const scanner = load('@buckley/security/scanner');
    expect(scanner.exports).toEqual(
      expect.arrayContaining(['SecretScanner', 'scanString', 'scanFile', 'scanDirectory', 'defaultSecretRules', 'analyzeAuthPatterns']),
    );
    expect(scanner.re2).toBe(true);
    expect(scanner.modules).toEqual(expect.arrayContaining(['rules/gitleaks-rules.ts', 'secret-scanner.ts']));
  });
});
