import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* sources(path);
    else if (path.endsWith('.ts') && !path.includes('.test.')) yield path;
  }
}

// The package starts processes only through the sandbox it is given: no module of it may reach
// child_process (or worker_threads, cluster, or a process-spawning wrapper such as the MCP SDK's
// stdio transport, which spawns with cross-spawn) any other way.
it('no source file of the package can start a process outside the sandbox', () => {
  const files = [...sources(import.meta.dirname)];
  expect(files.length).toBeGreaterThan(8);
  const forbidden =
    /(?:from|import\(|require\()\s*['"](?:node:)?(?:child_process|worker_threads|cluster)['"]|['"](?:execa|cross-spawn|shelljs|zx|@modelcontextprotocol\/sdk\/client\/stdio(?:\.js)?)['"]|process\.binding|\bspawnSync?\b|\bexecFileSync?\b|\bexecSync\b/;
  const offenders = files.filter((file) => forbidden.test(readFileSync(file, 'utf8')));
  expect(offenders).toEqual([]);
});
