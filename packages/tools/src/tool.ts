import { z } from 'zod';
import { InvalidToolDefinitionError } from './tools-errors.js';

/** A JSON value, as tool outputs and failure details travel to the model and the event store. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Stable codes of the failures a tool call can return to the model (results, not exceptions). */
export const ToolFailureCode = {
  /** The model called a tool that is not registered. */
  UnknownTool: 'UNKNOWN_TOOL',
  /** The arguments were not JSON or did not match the tool's input schema. */
  InvalidArguments: 'INVALID_ARGUMENTS',
  /** The tool ran and failed in a way the model can act on (a file that does not exist, a non-unique match). */
  ToolFailed: 'TOOL_FAILED',
} as const;

/** One issue of an `INVALID_ARGUMENTS` failure: where in the arguments, and what was wrong. */
export interface ArgumentIssue {
  /** The path into the arguments, e.g. `['lines', 0]`; empty for the whole object. */
  readonly path: ReadonlyArray<string | number>;
  /** zod's issue code, e.g. `invalid_type`. */
  readonly code: string;
  /** A readable description, e.g. `Invalid input: expected string, received number`. */
  readonly message: string;
}

/** A failure the model reads: a stable code, a message, and optional details (validation issues, match counts). */
export interface ToolFailure {
  readonly ok: false;
  /** UPPER_SNAKE code, e.g. `UNKNOWN_TOOL`, `INVALID_ARGUMENTS`, `EDIT_MATCH_NOT_UNIQUE`. */
  readonly code: string;
  readonly message: string;
  /** The schema issues of an `INVALID_ARGUMENTS` failure. */
  readonly issues?: readonly ArgumentIssue[];
  /** Anything else the model can act on. */
  readonly details?: { readonly [key: string]: JsonValue };
}

/** A successful tool call's output. */
export interface ToolSuccess<O> {
  readonly ok: true;
  readonly output: O;
}

/** What a tool call returns: a value the model reads either way. Exceptions are reserved for infrastructure faults. */
export type ToolResult<O = JsonValue> = ToolSuccess<O> | ToolFailure;

/** Wraps a tool's output as a successful {@link ToolResult}. */
export function toolSuccess<O>(output: O): ToolSuccess<O> {
  return { ok: true, output };
}

/**
 * Builds the failure value a tool returns when it could not do what the model asked. The model
 * reads `code` and `message`; put what it needs to retry in `details`.
 *
 * @example
 * ```ts
 * return toolFailure('FILE_NOT_FOUND', `file ${JSON.stringify(path)} does not exist`);
 * ```
 */
export function toolFailure(code: string, message: string, details?: ToolFailure['details']): ToolFailure {
  return details === undefined ? { ok: false, code, message } : { ok: false, code, message, details };
}

/** What a handler receives besides its validated input. */
export interface ToolContext {
  /** Aborted when the call times out or the caller gives up; long handlers must honour it. */
  readonly signal: AbortSignal;
  /** The model's tool call id: the idempotency key of this run. */
  readonly callId: string;
}

/** The fields of {@link defineTool}. */
export interface ToolDefinition<S extends z.ZodType, O> {
  /** `^[a-zA-Z0-9_-]{1,64}$` (what the OpenAI-compatible APIs accept). */
  readonly name: string;
  /** What the tool does, for the model. */
  readonly description: string;
  /** A zod object schema of the arguments; exported to the model as JSON Schema. */
  readonly input: S;
  /** True when the tool has no side effects: approval lets it through in `safe` mode and the loop may run it in parallel. */
  readonly readOnly: boolean;
  /** True when running it twice has the effect of running it once; only then may a tool with side effects be retried. Defaults to `readOnly`. */
  readonly idempotent?: boolean;
  /** Does the work. Returns a {@link ToolResult}, or a bare output (taken as success); throws only for infrastructure faults. */
  readonly handler: (input: z.output<S>, context: ToolContext) => Promise<ToolResult<O> | O> | ToolResult<O> | O;
}

/** A defined tool: its definition, the JSON Schema the model sees, and `run`, which always returns a {@link ToolResult}. */
export interface Tool<S extends z.ZodType = z.ZodType, O = unknown> {
  readonly name: string;
  readonly description: string;
  readonly input: S;
  /** The JSON Schema of `input` (draft 2020-12, from `z.toJSONSchema`), as offered to the model. */
  readonly parameters: { readonly [key: string]: JsonValue };
  readonly readOnly: boolean;
  readonly idempotent: boolean;
  /** Calls the handler with already-validated input; a bare output becomes a success. */
  run(input: z.output<S>, context: ToolContext): Promise<ToolResult<O>>;
}

/** A tool of any input and output: what registries and middleware hold. */
// oxlint-disable-next-line typescript/no-explicit-any -- the handler's input is contravariant; any lets every tool fit
export type AnyTool = Tool<any, unknown>;

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * Defines a tool. Checks the definition up front (name, description, an object schema that can
 * be exported as JSON Schema) and throws {@link InvalidToolDefinitionError} otherwise.
 *
 * @example
 * ```ts
 * const add = defineTool({
 *   name: 'add',
 *   description: 'Adds two numbers',
 *   input: z.object({ a: z.number(), b: z.number() }),
 *   readOnly: true,
 *   handler: ({ a, b }) => a + b,
 * });
 * ```
 */
export function defineTool<S extends z.ZodType, O>(definition: ToolDefinition<S, O>): Tool<S, O> {
  const { name, description, input, readOnly, handler } = definition;
  if (typeof name !== 'string' || !NAME.test(name)) throw new InvalidToolDefinitionError('name', name, 'letters, digits, "_" or "-", 1 to 64 characters');
  if (typeof description !== 'string' || description.trim() === '') throw new InvalidToolDefinitionError('description', description, 'a non-empty string');
  if (!(input instanceof z.ZodType)) throw new InvalidToolDefinitionError('input', typeof input, 'a zod schema');
  if (typeof readOnly !== 'boolean') throw new InvalidToolDefinitionError('readOnly', readOnly, 'a boolean');
  if (typeof handler !== 'function') throw new InvalidToolDefinitionError('handler', typeof handler, 'a function');
  const idempotent = definition.idempotent ?? readOnly;
  if (typeof idempotent !== 'boolean') throw new InvalidToolDefinitionError('idempotent', idempotent, 'a boolean');
  let parameters: { [key: string]: JsonValue };
  try {
    parameters = z.toJSONSchema(input, { io: 'input' }) as { [key: string]: JsonValue };
  } catch (error) {
    throw new InvalidToolDefinitionError('input', name, 'a schema zod can export as JSON Schema', { cause: error });
  }
  if (parameters.type !== 'object') throw new InvalidToolDefinitionError('input', parameters.type ?? null, 'an object schema (z.object)');
  return {
    name,
    description,
    input,
    parameters,
    readOnly,
    idempotent,
    async run(value, context) {
      const result = await handler(value, context);
      return isToolResult<O>(result) ? result : toolSuccess(result);
    },
  };
}

function isToolResult<O>(value: unknown): value is ToolResult<O> {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { ok?: unknown; output?: unknown; code?: unknown; message?: unknown };
  if (candidate.ok === true) return 'output' in candidate;
  return candidate.ok === false && typeof candidate.code === 'string' && typeof candidate.message === 'string';
}
