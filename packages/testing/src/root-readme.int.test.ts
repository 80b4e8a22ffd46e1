import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runReadmeExamples } from './readme.js';

it('the hello world at the top of the repository README runs against real bubblewrap', async () => {
  const root = join(import.meta.dirname, '..', '..', '..');
  await expect(runReadmeExamples(join(import.meta.dirname, '..'), join(root, 'README.md'))).resolves.toBe(1);
});
