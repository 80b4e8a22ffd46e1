import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidToolDefinitionError, defineTool, isToolsError, toolFailure } from './index.js';

const context = { signal: new AbortController().signal, callId: 'call_1' };

describe('defineTool', () => {
  it('exports the input schema as JSON Schema for the model', () => {
    const tool = defineTool({
      name: 'read_lines',
      description: 'Reads lines of a file',
      input: z.object({ path: z.string().describe('workspace-relative path'), from: z.number().int().min(1).default(1) }),
      readOnly: true,
      handler: () => '',
    });
    expect(tool.parameters).toMatchObject({
      type: 'object',
      properties: { path: { type: 'string', description: 'workspace-relative path' }, from: { type: 'integer', minimum: 1, default: 1 } },
      required: ['path'],
    });
    expect(tool.idempotent).toBe(true); // read-only tools are idempotent unless said otherwise
  });

  it('wraps a bare output as a success and passes failure values through', async () => {
    const tool = defineTool({
      name: 'half',
      description: 'Halves an even number',
      input: z.object({ n: z.number() }),
      readOnly: true,
      handler: ({ n }) => (n % 2 === 0 ? n / 2 : toolFailure('ODD_NUMBER', `n ${n} is odd, expected an even number`, { n })),
    });
    await expect(tool.run({ n: 4 }, context)).resolves.toEqual({ ok: true, output: 2 });
    await expect(tool.run({ n: 3 }, context)).resolves.toEqual({
      ok: false,
      code: 'ODD_NUMBER',
      message: 'n 3 is odd, expected an even number',
      details: { n: 3 },
    });
  });

  it('lets infrastructure faults through as exceptions', async () => {
    const tool = defineTool({
      name: 'broken',
      description: 'Always faults',
      input: z.object({}),
      readOnly: false,
      handler: () => Promise.reject(new Error('disk gone')),
    });
    expect(tool.idempotent).toBe(false);
    await expect(tool.run({}, context)).rejects.toThrow('disk gone');
  });

  it.each([
    ['name', { name: 'has space' }],
    ['name', { name: 'x'.repeat(65) }],
    ['description', { description: ' ' }],
    ['input', { input: { type: 'object' } }],
    ['input', { input: z.string() }],
    ['readOnly', { readOnly: 'yes' }],
    ['handler', { handler: undefined }],
  ])('refuses a definition with a bad %s', (field, override) => {
    const definition = { name: 'ok', description: 'fine', input: z.object({}), readOnly: true, handler: () => null, ...override };
    let thrown: unknown;
    try {
      defineTool(definition as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidToolDefinitionError);
    expect(isToolsError(thrown, 'INVALID_TOOL_DEFINITION')).toBe(true);
    expect((thrown as InvalidToolDefinitionError).field).toBe(field);
    expect((thrown as Error).message).toMatch(new RegExp(`^tool ${field} .* is invalid, expected `));
  });
});
