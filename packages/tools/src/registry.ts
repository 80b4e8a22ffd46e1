import type { z } from 'zod';
import { type AnyTool, type ArgumentIssue, type JsonValue, type ToolFailure, ToolFailureCode } from './tool.js';
import { ToolNameConflictError } from './tools-errors.js';

/** A tool call as the model sent it: its id, the tool's name and the arguments (a JSON string, or already parsed). */
export interface ToolCall {
  /** The model's tool call id: the idempotency key of the run. */
  readonly id: string;
  readonly name: string;
  readonly arguments: string | unknown;
}

/** What the model is offered for one tool (the OpenAI-compatible function shape, camelCase). */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  /** JSON Schema of the arguments. */
  readonly parameters: { readonly [key: string]: JsonValue };
}

/** A call whose tool exists and whose arguments passed the schema. */
export interface ResolvedCall {
  readonly ok: true;
  readonly tool: AnyTool;
  /** The arguments as parsed by the tool's schema (defaults applied). */
  readonly input: unknown;
}

/** The tools one session can call. Built-in names can never be shadowed. */
export interface ToolRegistry {
  /** Adds a tool; throws {@link ToolNameConflictError} when its name is taken. */
  register(tool: AnyTool): void;
  /** The tool of that name, if any. */
  get(name: string): AnyTool | undefined;
  /** Whether `name` is one of the built-ins the registry was created with. */
  isBuiltin(name: string): boolean;
  /** Every tool, built-ins first, in registration order. */
  list(): readonly AnyTool[];
  /** The tool list as offered to the model. */
  specs(): readonly ToolSpec[];
  /**
   * Finds the tool and validates the arguments. Never throws for the model's mistakes: an
   * unknown name is an `UNKNOWN_TOOL` failure (listing the tools that exist), arguments that
   * are not JSON or fail the schema an `INVALID_ARGUMENTS` failure listing zod's issues.
   */
  resolve(call: ToolCall): ResolvedCall | ToolFailure;
}

/** Options of {@link createToolRegistry}. */
export interface ToolRegistryOptions {
  /** Tools registered first whose names no later tool may take. */
  readonly builtins?: readonly AnyTool[];
}

/**
 * Creates a registry holding `builtins`; more tools (user tools, MCP tools) come in through
 * `register`.
 *
 * @example
 * ```ts
 * const registry = createToolRegistry({ builtins: [add] });
 * const call = registry.resolve({ id: 'call_1', name: 'add', arguments: '{"a":1,"b":2}' });
 * ```
 */
export function createToolRegistry(options: ToolRegistryOptions = {}): ToolRegistry {
  const tools = new Map<string, AnyTool>();
  const builtins = new Set<string>();
  const add = (tool: AnyTool): void => {
    if (tools.has(tool.name)) throw new ToolNameConflictError(tool.name, builtins.has(tool.name));
    tools.set(tool.name, tool);
  };
  for (const tool of options.builtins ?? []) {
    add(tool);
    builtins.add(tool.name);
  }
  return {
    register: add,
    get: (name) => tools.get(name),
    isBuiltin: (name) => builtins.has(name),
    list: () => [...tools.values()],
    specs: () => [...tools.values()].map(({ name, description, parameters }) => ({ name, description, parameters })),
    resolve(call) {
      const tool = tools.get(call.name);
      if (tool === undefined) {
        return {
          ok: false,
          code: ToolFailureCode.UnknownTool,
          message: `tool ${JSON.stringify(call.name)} does not exist, expected one of ${[...tools.keys()].map((n) => JSON.stringify(n)).join(', ') || 'no tools (none are registered)'}`,
          details: { available: [...tools.keys()] },
        };
      }
      let args: unknown = call.arguments;
      if (typeof args === 'string') {
        // A tool without parameters often arrives with empty arguments.
        if (args.trim() === '') args = {};
        else {
          try {
            args = JSON.parse(args);
          } catch (error) {
            return invalid(tool.name, `arguments are not valid JSON (${(error as Error).message})`, [
              { path: [], code: 'invalid_json', message: 'expected a JSON object' },
            ]);
          }
        }
      }
      const parsed = (tool.input as z.ZodType).safeParse(args);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((issue) => ({
          path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
          code: issue.code,
          message: issue.message,
        }));
        const summary = issues.map((i) => `${i.path.length === 0 ? '(root)' : i.path.join('.')}: ${i.message}`).join('; ');
        return invalid(tool.name, summary, issues);
      }
      return { ok: true, tool, input: parsed.data };
    },
  };
}

function invalid(name: string, summary: string, issues: ArgumentIssue[]): ToolFailure {
  return { ok: false, code: ToolFailureCode.InvalidArguments, message: `invalid arguments for tool ${JSON.stringify(name)}: ${summary}`, issues };
}
