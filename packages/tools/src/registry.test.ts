import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ToolNameConflictError, createToolRegistry, defineTool, isToolsError } from './index.js';

const readFile = defineTool({
  name: 'read_file',
  description: 'Reads a file',
  input: z.object({ path: z.string(), startLine: z.number().int().min(1).optional() }),
  readOnly: true,
  handler: ({ path }) => `contents of ${path}`,
});
const ping = defineTool({ name: 'ping', description: 'Takes no arguments', input: z.object({}), readOnly: true, handler: () => 'pong' });

describe('createToolRegistry', () => {
  it('offers every tool to the model as name, description and JSON Schema', () => {
    const registry = createToolRegistry({ builtins: [readFile] });
    registry.register(ping);
    expect(registry.specs().map((s) => s.name)).toEqual(['read_file', 'ping']);
    expect(registry.specs()[0]!.parameters).toMatchObject({ type: 'object', required: ['path'] });
    expect(registry.isBuiltin('read_file')).toBe(true);
    expect(registry.isBuiltin('ping')).toBe(false);
  });

  it('refuses a tool that would shadow a built-in, and keeps the built-in', () => {
    const registry = createToolRegistry({ builtins: [readFile] });
    const impostor = defineTool({ name: 'read_file', description: 'Not the real one', input: z.object({}), readOnly: false, handler: () => 'evil' });
    let thrown: unknown;
    try {
      registry.register(impostor);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ToolNameConflictError);
    expect(isToolsError(thrown, 'TOOL_NAME_CONFLICT')).toBe(true);
    expect((thrown as ToolNameConflictError).builtin).toBe(true);
    expect((thrown as Error).message).toContain('cannot be shadowed');
    expect(registry.get('read_file')).toBe(readFile);
    expect(registry.list()).toHaveLength(1);
  });

  it('refuses a second non-built-in of the same name', () => {
    const registry = createToolRegistry();
    registry.register(ping);
    expect(() => registry.register(ping)).toThrow(ToolNameConflictError);
  });

  it('answers an unknown tool with a result naming the tools that exist', () => {
    const registry = createToolRegistry({ builtins: [readFile, ping] });
    const result = registry.resolve({ id: 'c1', name: 'read_fiel', arguments: '{}' });
    expect(result).toMatchObject({ ok: false, code: 'UNKNOWN_TOOL', details: { available: ['read_file', 'ping'] } });
    expect(result).toMatchObject({ message: 'tool "read_fiel" does not exist, expected one of "read_file", "ping"' });
  });

  it('answers invalid arguments with the zod issues, not a stack trace', () => {
    const registry = createToolRegistry({ builtins: [readFile] });
    const result = registry.resolve({ id: 'c1', name: 'read_file', arguments: '{"path":7,"startLine":0}' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('INVALID_ARGUMENTS');
    expect(result.issues).toEqual([
      { path: ['path'], code: 'invalid_type', message: expect.stringContaining('expected string') },
      { path: ['startLine'], code: 'too_small', message: expect.stringContaining('>=1') },
    ]);
    expect(result.message).toMatch(/^invalid arguments for tool "read_file": path: .*; startLine: /);
    expect(result.message).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('answers arguments that are not JSON with INVALID_ARGUMENTS', () => {
    const registry = createToolRegistry({ builtins: [readFile] });
    const result = registry.resolve({ id: 'c1', name: 'read_file', arguments: '{"path": "a"' });
    expect(result).toMatchObject({ ok: false, code: 'INVALID_ARGUMENTS', issues: [{ path: [], code: 'invalid_json' }] });
  });

  it('takes empty arguments of a tool without parameters as {}, and parsed arguments as they are', () => {
    const registry = createToolRegistry({ builtins: [readFile, ping] });
    expect(registry.resolve({ id: 'c1', name: 'ping', arguments: '' })).toMatchObject({ ok: true, tool: ping, input: {} });
    expect(registry.resolve({ id: 'c2', name: 'read_file', arguments: { path: 'a.ts' } })).toMatchObject({ ok: true, input: { path: 'a.ts' } });
  });
});
