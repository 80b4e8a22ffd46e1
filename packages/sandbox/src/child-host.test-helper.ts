import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

// Tests that run a sandbox host in a child Node process (a non-root user, a process killed
// with kill -9) load this package and @buckley/config from source through tsx's loader.

const require = createRequire(import.meta.url);

/** tsx's ESM loader, for `node --import` (its CLI would start a second node). */
const tsxLoader = join(resolve(require.resolve('tsx/package.json'), '..'), 'dist', 'esm', 'index.mjs');

/** This package's source entry and @buckley/config's, as JSON string literals for a child script. */
export const sandboxEntry = JSON.stringify(join(import.meta.dirname, 'index.ts'));
export const configEntry = JSON.stringify(resolve(import.meta.dirname, '..', '..', 'config', 'src', 'index.ts'));

/** The argv that runs a child host script from source. */
export function childHostArgs(script: string, ...args: string[]): string[] {
  return ['--conditions=@buckley/source', '--import', tsxLoader, script, ...args];
}
