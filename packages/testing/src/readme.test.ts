import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readmeExamples, runReadmeExamples } from './readme.js';

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function pkg(readme: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'buckley-readme-'));
  made.push(dir);
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'README.md'), readme);
  return dir;
}

describe('README examples', () => {
  it('takes ts blocks with their line, leaving out skip blocks and other languages', () => {
    const dir = pkg('# x\n\n```ts\nconst a = 1;\n```\n\n```sh\nls\n```\n\n```ts skip\nnope\n```\n');
    expect(readmeExamples(dir)).toEqual([{ line: 3, code: 'const a = 1;' }]);
  });

  it('runs each example and cleans up its files', async () => {
    const dir = pkg('```ts\nimport assert from "node:assert/strict";\nassert.equal(1 + 1, 2);\n```\n');
    await expect(runReadmeExamples(dir)).resolves.toBe(1);
    expect(existsSync(join(dir, 'src', `.readme-${process.pid}`))).toBe(false);
  });

  it('fails with the README line when an example throws', async () => {
    const dir = pkg('text\n```ts\nthrow new Error("wrong README");\n```\n');
    await expect(runReadmeExamples(dir)).rejects.toThrow('README example at line 2 failed');
  });

  it('fails when a README has no runnable example', async () => {
    const dir = pkg('# nothing\n');
    await expect(runReadmeExamples(dir)).rejects.toThrow('no runnable');
  });

  it("runs this package's own README", async () => {
    await expect(runReadmeExamples(join(import.meta.dirname, '..'))).resolves.toBe(1);
  });
});
