import { join } from 'node:path';
import { runReadmeExamples } from '@buckley/testing';
import { expect, it } from 'vitest';

it('the README examples run', async () => {
  await expect(runReadmeExamples(join(import.meta.dirname, '..'))).resolves.toBe(1);
});
