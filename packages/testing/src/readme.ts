import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A TypeScript example taken from a README. */
export interface ReadmeExample {
  /** 1-based line of the opening fence in the README. */
  readonly line: number;
  readonly code: string;
}

/**
 * The ```` ```ts ```` blocks of a package README, in order. Blocks fenced as ```` ```ts skip ````
 * are left out (for fragments that cannot run alone, such as a config file).
 */
export function readmeExamples(packageDir: string, readme = join(packageDir, 'README.md')): ReadmeExample[] {
  const text = readFileSync(readme, 'utf8');
  const lines = text.split('\n');
  const examples: ReadmeExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(ts|typescript)(\s+skip)?\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    if (!fence[2]) examples.push({ line: start + 1, code: body.join('\n') });
  }
  return examples;
}

/**
 * Runs each README example of the package as a module (through Vitest's TypeScript transform,
 * so it imports the workspace packages from source). `readme` defaults to the package's own;
 * the examples always run from the package's `src`, so they resolve its dependencies. An example that throws fails the test.
 * Examples use `node:assert` to state what they print, so a wrong README fails too.
 */
export async function runReadmeExamples(packageDir: string, readme = join(packageDir, 'README.md')): Promise<number> {
  const examples = readmeExamples(packageDir, readme);
  if (examples.length === 0) throw new Error(`no runnable \`\`\`ts example in ${readme}`);
  const dir = join(packageDir, 'src', `.readme-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    for (const [n, example] of examples.entries()) {
      const file = join(dir, `example-${n}.ts`);
      writeFileSync(file, example.code);
      try {
        await import(pathToFileURL(file).href);
      } catch (error) {
        throw new Error(`README example at line ${example.line} failed`, { cause: error });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return examples.length;
}
