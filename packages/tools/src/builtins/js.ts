import { z } from 'zod';
import { type JsonValue, defineTool, toolFailure } from '../tool.js';
import { needs } from './common.js';

/** `run_js`: JavaScript in a fresh isolated-vm isolate (no process, require, fs or network). */
export const runJsTool = defineTool({
  name: 'run_js',
  description:
    'Evaluates JavaScript in an isolated sandbox (no process, require, filesystem or network). The value of the last expression (awaited if a promise) is returned; `input` is available as a global.',
  input: z.strictObject({
    code: z
      .string()
      .min(1)
      .max(1024 * 1024),
    input: z.json().optional(),
    timeoutSeconds: z.number().int().min(1).max(600).optional(),
  }),
  readOnly: true,
  timeoutMs: (input) => (input.timeoutSeconds === undefined ? undefined : input.timeoutSeconds * 1000),
  async handler({ code, input }, context) {
    const { sandbox } = needs(context);
    const result = await sandbox.runJs(code, { globals: { input: input ?? null } });
    const logs = result.logs.map((l) => `${l.level}: ${l.text}`);
    if (!result.ok) {
      const { kind, message } = result.error;
      return toolFailure(kind === 'timeout' ? 'JS_TIMEOUT' : kind === 'memory' ? 'JS_MEMORY_LIMIT' : 'JS_ERROR', `the script failed (${kind}): ${message}`, {
        logs,
      });
    }
    return { value: (result.value ?? null) as JsonValue, logs, logsTruncated: result.logsTruncated };
  },
});
