import { defineConfig } from 'tsup';

/**
 * One build for every package: ESM only, `.d.ts`, sourcemaps. Run from a package directory
 * (`tsup --config ../../tsup.config.ts`); dependencies and peers stay external.
 */
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node24',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  treeshake: true,
  splitting: false,
});
