export { defineTool, toolDenial, toolFailure, toolSuccess, ToolFailureCode } from './tool.js';
export type {
  AnyTool,
  ApprovalClass,
  ArgumentIssue,
  JsonValue,
  PathIntent,
  Tool,
  ToolContext,
  ToolDefinition,
  ToolFailure,
  ToolResult,
  ToolSandbox,
  ToolSuccess,
  WorkspaceAccess,
} from './tool.js';
export { createToolRegistry } from './registry.js';
export type { ResolvedCall, ToolCall, ToolRegistry, ToolRegistryOptions, ToolSpec } from './registry.js';
export { APPROVAL_TABLE, matchesAutoApprove } from './approval.js';
export type { ApprovalAnswer, ApprovalRequest, Approver } from './approval.js';
export { createToolExecutor } from './executor.js';
export type { ExecuteOptions, ToolExecutor, ToolExecutorOptions } from './executor.js';
export { BUILTIN_TOOLS } from './builtins/index.js';
export {
  InvalidToolDefinitionError,
  McpServerError,
  McpToolSkippedError,
  ToolNameConflictError,
  ToolsError,
  ToolsErrorCode,
  isToolsError,
} from './tools-errors.js';
export type { McpToolSkipReason } from './tools-errors.js';
export { connectMcpHttpServer } from './mcp.js';
export type { McpConnection, McpHttpServer } from './mcp.js';
