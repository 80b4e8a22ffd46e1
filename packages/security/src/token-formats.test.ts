import { describe, expect, it } from 'vitest';
import { defaultSecretRules } from './rules/index.js';
import { generateTokenFormats, renderTokenFormats } from './token-format-gen.js';

describe('token formats', () => {
  it('are what the generator derives from the default secret rules', async () => {
    await expect(renderTokenFormats(generateTokenFormats(defaultSecretRules))).toMatchFileSnapshot('./token-formats.ts');
  });
});
