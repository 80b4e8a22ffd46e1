import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProjectConfiguration } from 'vitest/config';

/**
 * The one list of Vitest projects: for every package under `packages/`, a unit project
 * (`<name>:unit`, `*.test.ts`, no I/O) and an integration project (`<name>:int`,
 * `*.int.test.ts`, real Postgres, NATS, bubblewrap and processes). `vitest.config.ts` imports it.
 */
const root = import.meta.dirname;

/** Resolve workspace packages to their TypeScript source, so nothing needs building first. */
const conditions = ['@buckley/source', 'module', 'node', 'development|production'];

function packages(): Array<{ name: string; dir: string }> {
  const base = join(root, 'packages');
  if (!existsSync(base)) return [];
  return readdirSync(base, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(base, entry.name, 'package.json')))
    .map((entry) => {
      const dir = join(base, entry.name);
      const { name } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string };
      return { name, dir };
    });
}

export const projects: TestProjectConfiguration[] = packages().flatMap(({ name, dir }) => [
  {
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      name: `${name}:unit`,
      root: dir,
      include: ['src/**/*.test.ts'],
      exclude: ['src/**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
      environment: 'node',
      passWithNoTests: true,
      testTimeout: 10_000,
    },
  },
  {
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      name: `${name}:int`,
      root: dir,
      include: ['src/**/*.int.test.ts'],
      environment: 'node',
      pool: 'forks',
      passWithNoTests: true,
      testTimeout: 60_000,
      hookTimeout: 120_000,
    },
  },
]);
