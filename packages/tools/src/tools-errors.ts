import { BuckleyError, type BuckleyErrorOptions, describeValue, isBuckleyError } from '@buckley/utils';

/** Stable codes of the errors this package throws (infrastructure and programming faults, never a tool's own failure). */
export const ToolsErrorCode = {
  NameConflict: 'TOOL_NAME_CONFLICT',
  InvalidDefinition: 'INVALID_TOOL_DEFINITION',
  McpServerFailed: 'MCP_SERVER_FAILED',
  McpToolSkipped: 'MCP_TOOL_SKIPPED',
} as const;

/** One of {@link ToolsErrorCode}'s values. */
export type ToolsErrorCode = (typeof ToolsErrorCode)[keyof typeof ToolsErrorCode];

/** The base of every error this package throws. */
export class ToolsError extends BuckleyError {
  declare readonly code: ToolsErrorCode;
}

/** A tool was registered under a name that is already taken (a built-in's name can never be shadowed). */
export class ToolNameConflictError extends ToolsError {
  /** The name that was already registered. */
  readonly toolName: string;
  /** Whether the name belongs to a built-in tool. */
  readonly builtin: boolean;

  constructor(toolName: string, builtin: boolean, options?: BuckleyErrorOptions) {
    super(
      ToolsErrorCode.NameConflict,
      `tool name ${JSON.stringify(toolName)} is already registered${builtin ? ' by a built-in tool, which cannot be shadowed' : ''}, expected a unique name`,
      options,
    );
    this.toolName = toolName;
    this.builtin = builtin;
  }
}

/** A tool definition had a missing or malformed field (a name the model APIs refuse, an input schema that is not an object). */
export class InvalidToolDefinitionError extends ToolsError {
  /** The field of the definition, e.g. `name`. */
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string, options?: BuckleyErrorOptions) {
    super(ToolsErrorCode.InvalidDefinition, `tool ${field} (${describeValue(value)}) is invalid, expected ${expected}`, options);
    this.field = field;
    this.value = value;
  }
}

/** An MCP server could not be reached or listed; the message names the server. The session goes on without it. */
export class McpServerError extends ToolsError {
  /** The server's name from the config. */
  readonly server: string;

  constructor(server: string, message: string, options?: BuckleyErrorOptions) {
    super(ToolsErrorCode.McpServerFailed, `MCP server ${JSON.stringify(server)} ${message}`, options);
    this.server = server;
  }
}

/**
 * Why a tool an MCP server listed was not taken: `invalid_input_schema` (its `inputSchema` is
 * not a JSON Schema zod can turn into a validator, or is nested too deep), `invalid_definition`
 * (the result is not a tool definition, e.g. not an object schema), `secret_in_name` (its name or
 * a parameter name looks like a secret, which would reach the model and the logs as it is).
 */
export type McpToolSkipReason = 'invalid_input_schema' | 'invalid_definition' | 'secret_in_name';

/**
 * A tool an MCP server listed that was skipped (never registered, never offered to the model);
 * the server's other tools are taken. Not thrown: `McpConnection.skipped` lists them, for the
 * caller to log or show. The tool's name in it has gone through `redact()`.
 */
export class McpToolSkippedError extends ToolsError {
  /** The server's name from the config. */
  readonly server: string;
  /** The tool's name as the server listed it, redacted. */
  readonly tool: string;
  readonly reason: McpToolSkipReason;

  constructor(server: string, tool: string, reason: McpToolSkipReason, message: string, options?: BuckleyErrorOptions) {
    super(ToolsErrorCode.McpToolSkipped, `MCP server ${JSON.stringify(server)} tool ${JSON.stringify(tool)} was skipped: ${message}`, options);
    this.server = server;
    this.tool = tool;
    this.reason = reason;
  }
}

/** True when `value` is an error of this package, optionally with the given `code`. */
export function isToolsError(value: unknown, code?: ToolsErrorCode): value is ToolsError {
  return isBuckleyError(value, code) && Object.values(ToolsErrorCode).includes(value.code as ToolsErrorCode);
}
