import type { JsResult, JsRunOptions, RunOptions, RunResult } from '@buckley/sandbox';
import type { Attribution } from '@buckley/observability';
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
  /** Approval was refused (by a person, by the mode, or because nobody could be asked). */
  ApprovalDenied: 'APPROVAL_DENIED',
  /** A policy refused the call (a path outside the workspace, a protected path, a sandbox rule); `details.rule` names it. */
  PolicyDenied: 'POLICY_DENIED',
  /** The call ran past its deadline and was stopped (the whole process tree killed). */
  TimedOut: 'TOOL_TIMED_OUT',
} as const;

/**
 * What a call does, for approval: `read` (no side effects), `workspace_write` (changes files in
 * the workspace), `shell` (runs a command), `network` (reaches the network).
 */
export type ApprovalClass = 'read' | 'workspace_write' | 'shell' | 'network';

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
  /** Set by the executor when the output was cut to the result size cap. */
  readonly truncated?: true;
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

/**
 * Builds the failure of a call a policy refused (a path outside the workspace, a protected path,
 * a sandbox rule). The executor records it as `tool.run.denied` with the rule.
 */
export function toolDenial(rule: string, message: string, details?: ToolFailure['details']): ToolFailure {
  return { ok: false, code: ToolFailureCode.PolicyDenied, message, details: { ...details, rule } };
}

/** How a tool may touch a workspace path: `read`, or `write` (create, replace, edit). */
export type PathIntent = 'read' | 'write';

/** The workspace as a tool sees it: every path goes through {@link WorkspaceAccess.resolve}. */
export interface WorkspaceAccess {
  /** The real path of the workspace. */
  readonly root: string;
  /**
   * Resolves a workspace-relative (or absolute, inside) path through every symlink. Refuses, as
   * a {@link toolDenial}, a path outside the workspace, a protected path (`.git`, `.buckley`,
   * `protected_paths`, `denied_paths`) for writes, hidden paths for reads, and any write when
   * the sandbox mode is read-only.
   */
  resolve(path: string, intent: PathIntent): Promise<{ readonly ok: true; readonly path: string; readonly relative: string } | ToolFailure>;
}

/** The only way a tool starts a process: the session's sandbox, with the call's signal and override applied. */
export interface ToolSandbox {
  run(command: string | readonly string[], options?: Omit<RunOptions, 'signal' | 'unsafe'>): Promise<RunResult>;
  /** Runs JavaScript in an isolate (the sandbox's isolated-vm runner). */
  runJs(code: string, options?: Omit<JsRunOptions, 'functions'>): Promise<JsResult>;
}

/** What a handler receives besides its validated input. */
export interface ToolContext {
  /** Aborted when the call times out or the caller gives up; long handlers must honour it. */
  readonly signal: AbortSignal;
  /** The model's tool call id: the idempotency key of this run. */
  readonly callId: string;
  /** Who the call runs for (session, agent, plan, task, ...), as its events are attributed (set by the executor). */
  readonly attribution?: Attribution | undefined;
  /** The workspace and its path policy (set by the executor). */
  readonly workspace?: WorkspaceAccess | undefined;
  /** Where processes run (set by the executor). A tool never starts a process any other way. */
  readonly sandbox?: ToolSandbox | undefined;
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
  /** What approval treats the call as. Default `read` for a read-only tool, else `shell` (the strictest short of `network`). */
  readonly approvalClass?: ApprovalClass;
  /** The deadline the call asks for, in milliseconds (the executor caps it by the configured timeout). */
  readonly timeoutMs?: (input: z.output<S>) => number | undefined;
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
  readonly approvalClass: ApprovalClass;
  /** The deadline the call asks for, if any. */
  timeoutMsOf(input: z.output<S>): number | undefined;
  /** Calls the handler with already-validated input; a bare output becomes a success. */
  run(input: z.output<S>, context: ToolContext): Promise<ToolResult<O>>;
}

/** A tool of any input and output: what registries and middleware hold. */
// oxlint-disable-next-line typescript/no-explicit-any -- the handler's input is contravariant; any lets every tool fit
export type AnyTool = Tool<any, unknown>;

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const APPROVAL_CLASSES: readonly ApprovalClass[] = ['read', 'workspace_write', 'shell', 'network'];

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
  const approvalClass = definition.approvalClass ?? (readOnly ? 'read' : 'shell');
  if (!APPROVAL_CLASSES.includes(approvalClass)) throw new InvalidToolDefinitionError('approvalClass', approvalClass, APPROVAL_CLASSES.join(', '));
  if (readOnly && approvalClass !== 'read' && approvalClass !== 'network') {
    throw new InvalidToolDefinitionError('approvalClass', approvalClass, '"read" or "network" for a read-only tool');
  }
  const timeoutOf = definition.timeoutMs;
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
    approvalClass,
    timeoutMsOf: (value) => timeoutOf?.(value),
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
