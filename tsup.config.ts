import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'tsup';

/**
 * The source file of every entry point in the package's `exports` (the `@buckley/source`
 * condition) and of every `bin` (`./dist/<name>.js` is built from `src/<name>.ts`), so a
 * package's entries are built in one run from one list.
 */
function entries(): string[] {
  const manifest = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as {
    exports?: Record<string, string | Record<string, string>>;
    bin?: string | Record<string, string>;
  };
  const sources = Object.values(manifest.exports ?? {}).flatMap((target) =>
    typeof target === 'object' && typeof target['@buckley/source'] === 'string' ? [target['@buckley/source']] : [],
  );
  const bins = Object.values(typeof manifest.bin === 'string' ? { bin: manifest.bin } : (manifest.bin ?? {})).map((target) => {
    const match = /^(?:\.\/)?dist\/(.+)\.js$/.exec(target);
    if (!match) throw new Error(`bin ${JSON.stringify(target)}: expected ./dist/<name>.js, built from src/<name>.ts`);
    return `./src/${match[1]}.ts`;
  });
  return [...(sources.length > 0 ? sources : ['src/index.ts']), ...bins];
}

/**
 * One build for every package: ESM only, `.d.ts`, sourcemaps. Run from a package directory
 * (`tsup --config ../../tsup.config.ts`); dependencies and peers stay external. All entries
 * build in one run with shared chunks, so a module (and so each error class) exists once per
 * package and `instanceof` holds across entry points.
 */
export default defineConfig({
  entry: entries(),
  format: ['esm'],
  target: 'node24',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  treeshake: true,
  splitting: true,
});
